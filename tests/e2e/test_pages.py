"""Every page, as each role, on a desk (1366×768) and on a phone (390×844).

One live server over a copy of the demo as `make run` loads it (a campaign under way,
records in every state), one sign-in per role. The pages are every GET route of the web
blueprint, filled in with a task, a plan and a spot check the three roles can reach, so
a page added later is walked too. On each page: no horizontal scrolling, the phone header
at most a fifth of the screen, controls a thumb can hit, no console error, no 500, no
Chinese outside the user's own data once switched to English, and no serious axe-core
finding on the main pages. Screenshots: test-artifacts/screenshots/pages-<role>-<size>-<page>.png.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import JSON, String, Text, create_engine, select, text
from werkzeug.serving import make_server

import config as rectify_config
from app import create_app
from app.demo import DEMO_PASSWORD
from app.demo_campaign import photo_png as png
from app.models import Base
from tests.conftest import CAMPAIGN_NOW, Clock
from tests.e2e.conftest import SHOTS, TIMEOUT_MS

pytestmark = pytest.mark.e2e

ROLES = {"official": "lushi_handler", "supervisor": "smx_deputy", "admin": "admin"}
SIZES = {"desk": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
# Routes that are not pages: downloads, a JSON status, a redirect that changes the session.
NOT_PAGES = {
    "web.draft_notice",
    "web.draft_report",
    "web.evidence_file",
    "web.favicon",
    "web.ledger_export",
    "web.ledger_import_progress",
    "web.report_template_file",
    "web.submission_draft",
    "web.submission_file",
    "web.switch_lang",
    "web.unit_choices",  # JSON a page fetches (app.js): the task list's walk shows it filled in
    "web.header_counts",  # JSON every page but my work fetches for the header's counts
}
# A page that exists only after a ledger upload; its preview and progress are walked by
# tests/e2e/test_browser.py's import test.
NEEDS_AN_UPLOAD = {"web.ledger_import_page"}
PAGED_TASKS = "/tasks?per_page=5&page=2"  # the list's pager with its three links: first, previous, next
MAIN_PAGES = ["/", "/tasks", PAGED_TASKS, "/tasks/{task}", "/plans/{plan}", "/dashboard", "/submissions", "/inbox"]
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]+")
TAP_PX = 44


@dataclass
class Site:
    url: str
    app: object
    db_url: str
    ids: dict[str, int]
    states: dict[str, dict] = field(default_factory=dict)


def _sample_ids(db_url: str) -> dict[str, int]:
    """A task of 卢氏县 that is overdue in the Sanmenxia plan (its official, the plan's
    supervisor and the admin all see it), that plan, one evidence file, and a Yuzhou
    township's weekly report from the ledger (the admin's; the others meet the 404 page)."""
    engine = create_engine(db_url)
    with engine.connect() as c:
        task, plan, problem = c.execute(
            text(
                "SELECT t.id, p.plan_id, p.id FROM tasks t JOIN problems p ON p.id = t.problem_id "
                "JOIN units u ON u.id = t.unit_id WHERE u.name LIKE '卢氏县%' AND t.escalation_level > 0 "
                "ORDER BY t.id LIMIT 1"
            )
        ).one()
        # a township's weekly report from the ledger, handed in (its changes page)
        submission = c.execute(
            text(
                "SELECT s.id FROM submissions s JOIN obligations o ON o.id = s.obligation_id "
                "WHERE o.ledger_layout IS NOT NULL AND s.state != 'pending' ORDER BY s.id LIMIT 1"
            )
        ).scalar_one()
    engine.dispose()
    return {"task_id": task, "plan_id": plan, "problem_id": problem, "submission_id": submission}


@pytest.fixture(scope="module")
def site(campaign_sqlite, tmp_path_factory) -> Iterator[Site]:
    """A private copy of the campaign demo (the touch test writes), served once for the module."""
    src_url, src_instance = campaign_sqlite
    folder = tmp_path_factory.mktemp("pages")
    shutil.copy(src_url.removeprefix("sqlite:///"), folder / "rectify.db")
    shutil.copytree(src_instance, folder / "instance")
    url = f"sqlite:///{folder / 'rectify.db'}"
    app = create_app(rectify_config.TestConfig(url, folder / "instance"), clock=Clock(CAMPAIGN_NOW))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-pages", daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.server_port}", app, url, _sample_ids(url))
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        app.extensions["rectify"].db.dispose()


def pages(site: Site) -> list[tuple[str, str]]:
    """(endpoint, path) of every page of the web blueprint."""
    out = []
    for rule in sorted(site.app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.endpoint.startswith("web.") or "GET" not in rule.methods:
            continue
        if rule.endpoint in NOT_PAGES | NEEDS_AN_UPLOAD:
            continue
        missing = set(rule.arguments) - set(site.ids)
        assert not missing, f"{rule.rule}: give the page walk a sample {missing} (or list it in NOT_PAGES)"
        path = rule.rule
        for name in rule.arguments:
            path = re.sub(rf"<(?:\w+:)?{name}>", str(site.ids[name]), path)
        out.append((rule.endpoint, path))
    return [*out, ("web.task_list", PAGED_TASKS)]


def signed_in(browser, site: Site, role: str, size: str, *, lang: str = "zh"):
    """A page in a fresh context of ``role`` (or a demo username) at ``size``, with the
    cookies of one sign-in per user."""
    username = ROLES.get(role, role)
    if username not in site.states:
        ctx = browser.new_context(base_url=site.url)
        page = ctx.new_page()
        page.goto("/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", DEMO_PASSWORD)
        with page.expect_navigation():
            page.click("section.login button[type=submit]")
        site.states[username] = ctx.storage_state()
        ctx.close()
    ctx = browser.new_context(
        base_url=site.url,
        storage_state=site.states[username],
        viewport=SIZES[size],
        has_touch=size == "phone",
        is_mobile=size == "phone",
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
    )
    ctx.set_default_timeout(TIMEOUT_MS)
    page = ctx.new_page()
    page.errors = []
    page.on("console", lambda m: m.type == "error" and page.errors.append(f"{m.text} ({m.location.get('url')})"))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    if lang == "en":
        page.goto("/lang/en?next=/")
    return page


def save_shot(screenshot_dir: Path, page, name: str) -> None:
    path = screenshot_dir / f"pages-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    SHOTS.append(path)


def slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home"


SMALL_TARGETS = """() => [...document.querySelectorAll(
    'button, input:not([type=hidden]), select, textarea, summary, header a, nav a, .actions a, .pager a')]
  .filter((el) => el.offsetParent !== null || el.getClientRects().length)
  .map((el) => [el, el.getBoundingClientRect()])
  .filter(([el, r]) => r.width > 0 && r.height > 0 && (r.height < 44 || r.width < 24)
          && !(el.type === 'checkbox' || el.type === 'radio'))
  .map(([el, r]) => `${el.tagName.toLowerCase()} "${(el.innerText || el.value || el.name || '').trim().slice(0, 30)}"`
                  + ` ${Math.round(r.width)}x${Math.round(r.height)}`)"""
SMALL_CHECKS = """() => [...document.querySelectorAll('input[type=checkbox], input[type=radio]')]
  .filter((el) => el.getClientRects().length)
  .map((el) => el.closest('label') || el)
  .map((el) => [el, el.getBoundingClientRect()])
  .filter(([el, r]) => r.height < 44)
  .map(([el, r]) => `label "${el.innerText.trim().slice(0, 30)}" ${Math.round(r.height)} high`)"""


def look_at(page, path: str) -> tuple[int, list[str]]:
    """Open ``path``; return its status and what is wrong with it on this screen."""
    page.errors.clear()
    response = page.goto(path)
    status = response.status if response else 0
    wrong = []
    if status >= 500:
        wrong.append(f"answered {status}")
    if status != 200:
        return status, wrong  # out of this role's sight (404) is the error page, checked as such
    page.wait_for_load_state("load")
    wrong += [f"console: {e}" for e in page.errors]
    width = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    if width[0] > width[1]:
        wider = page.evaluate(
            """() => [...document.querySelectorAll('body *')].filter((el) => el.getBoundingClientRect().right
                 > window.innerWidth + 1).slice(0, 5).map((el) => el.tagName + '.' + el.className + '#' + el.id)"""
        )
        wrong.append(f"scrolls sideways: {width[0]} > {width[1]} ({wider})")
    if page.viewport_size["width"] < 500:
        header = page.locator("header.top").bounding_box()
        if header and header["height"] > page.viewport_size["height"] / 5:
            wrong.append(f"header {header['height']:.0f} px high")
        wrong += [f"small target: {t}" for t in page.evaluate(SMALL_TARGETS) + page.evaluate(SMALL_CHECKS)]
    return status, wrong


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("role", ROLES)
def test_every_page_fits_the_screen_with_thumb_sized_controls_and_no_error(browser, site, screenshot_dir, role, size):
    page = signed_in(browser, site, role, size)
    seen, problems = [], {}
    for endpoint, path in pages(site):
        status, wrong = look_at(page, path)
        seen.append((endpoint, status))
        if wrong:
            problems[path] = wrong
        if status == 200:  # a page out of this role's sight is the 404 page, not worth a picture
            save_shot(screenshot_dir, page, f"{role}-{size}-{slug(path)}")
    if role != "admin":
        page.goto("/login")  # signed out: the login page is a page too
        page.context.clear_cookies()
        status, wrong = look_at(page, "/login")
        if wrong:
            problems["/login (signed out)"] = wrong
        save_shot(screenshot_dir, page, f"signed-out-{size}-login")
    page.context.close()
    assert not problems, "\n".join(f"{path}: {wrong}" for path, wrong in problems.items())
    shown = {e for e, s in seen if s == 200}
    assert {"web.index", "web.task_list", "web.task_detail", "web.plan_detail", "web.inbox_page"} <= shown, seen


def user_data(db_url: str) -> list[str]:
    """Every text the users and the demo wrote (names, titles, comments, messages…), longest first."""
    engine = create_engine(db_url)
    found: set[str] = set()

    def walk(value):
        if isinstance(value, str):
            found.add(value.strip())
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    with engine.connect() as c:
        for table in Base.metadata.sorted_tables:
            cols = [col for col in table.columns if isinstance(col.type, String | Text | JSON)]
            if cols:
                for row in c.execute(select(*cols)):
                    for value in row:
                        walk(value)
    engine.dispose()
    return sorted((s for s in found if CJK.search(s)), key=len, reverse=True)


PAGE_WORDS = """() => {
  const attrs = [...document.querySelectorAll('[placeholder], [title], [aria-label], input[type=submit][value]')]
    .filter((el) => !el.closest('[lang^=zh]'))
    .map((el) => [el.getAttribute('placeholder'), el.getAttribute('title'), el.getAttribute('aria-label')].join(' '));
  const body = document.body.cloneNode(true);
  body.querySelectorAll('[lang^=zh], script, style').forEach((el) => el.remove());
  return [document.title, body.innerText, ...attrs].join('\\n');
}"""


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("role", ROLES)
def test_switched_to_english_no_page_shows_chinese_outside_the_users_own_data(
    browser, site, screenshot_dir, role, size
):
    data = user_data(site.db_url)
    page = signed_in(browser, site, role, size, lang="en")
    left = {}
    for _endpoint, path in pages(site):
        status, wrong = look_at(page, path)
        assert not wrong, (path, wrong)
        words = page.evaluate(PAGE_WORDS)
        for s in data:
            if s in words:
                words = words.replace(s, " ")
        if chinese := CJK.findall(words):
            left[path] = sorted(set(chinese))
        if status == 200:
            save_shot(screenshot_dir, page, f"{role}-en-{size}-{slug(path)}")
    page.context.close()
    assert not left, "\n".join(f"{path}: {' | '.join(words)}" for path, words in left.items())


AXE = """async () => {
  const r = await axe.run(document, { resultTypes: ['violations'] });
  return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
}"""


@pytest.mark.parametrize("size", SIZES)
def test_the_main_pages_have_no_serious_accessibility_violation(browser, site, size):
    found = {}
    for role in ("official", "supervisor"):
        page = signed_in(browser, site, role, size)
        for pattern in MAIN_PAGES:
            path = pattern.format(task=site.ids["task_id"], plan=site.ids["plan_id"])
            status, _ = look_at(page, path)
            assert status == 200, (role, path, status)
            page.add_script_tag(url="/static/vendor/axe.min.js")
            if violations := page.evaluate(AXE):
                found[f"{role} {path}"] = violations
        page.context.close()
    assert not found, "\n".join(f"{where}: {v}" for where, v in found.items())


# ---- by thumb -----------------------------------------------------------------------------
TOUCH_OFFICIAL = "sfq_handler"  # 城乡一体化示范区: in the campaign demo it still has tasks 挂账


def tap_and_wait(page, locator) -> None:
    with page.expect_navigation():
        locator.tap()


def refused(page) -> str:
    return " ".join(page.locator("p.flash.error, p.flash.refused").all_inner_texts())


def test_at_phone_size_by_touch_an_official_rectifies_a_task_with_a_photo_and_a_supervisor_closes_it(
    browser, site, screenshot_dir
):
    official = signed_in(browser, site, TOUCH_OFFICIAL, "phone")
    official.goto("/")
    menu = official.locator("details#menu > summary")
    assert official.locator("header.top nav").is_hidden(), "the menu is folded"
    menu.tap()
    tap_and_wait(official, official.locator("header.top nav").get_by_role("link", name="整改任务"))
    official.locator("#filter-box > summary").tap()
    official.locator("#filters select[name=state]").select_option("identified")
    tap_and_wait(official, official.locator("#filters button[type=submit]"))
    save_shot(screenshot_dir, official, "touch-official-phone-1-found")
    card = official.locator("table#tasks tbody tr").first
    assert card.bounding_box()["width"] <= 390, "each task is a card on the screen"
    tap_and_wait(official, card.locator("td:nth-child(3) a"))
    task_url = official.url
    assert official.locator("#state").get_attribute("data-state") == "identified"

    tap_and_wait(official, official.get_by_role("button", name="开始整改", exact=True))
    assert official.locator("#state").get_attribute("data-state") == "in_progress", refused(official)
    account = "已逐户核查，危房已拆除重建，附现场照片。"
    official.locator("form.move[data-to=rectified] textarea").fill(account)
    tap_and_wait(official, official.get_by_role("button", name="提交整改", exact=True))
    assert refused(official), "no photo yet: the rectification is refused"
    assert official.locator("form.move[data-to=rectified] textarea").input_value() == account, "what was typed stays"
    save_shot(screenshot_dir, official, "touch-official-phone-2-refused")

    camera = official.locator("form#upload input[type=file][capture]")
    assert camera.get_attribute("accept") == "image/*", "the photo button opens the camera"
    camera.set_input_files(files=[{"name": "现场.png", "mimeType": "image/png", "buffer": png()}])
    tap_and_wait(official, official.locator("form#upload button[type=submit]"))
    assert "佐证材料已上传" in official.locator("p.flash").inner_text(), refused(official)
    official.locator("form.move[data-to=rectified] textarea").fill(account)
    tap_and_wait(official, official.get_by_role("button", name="提交整改", exact=True))
    assert official.locator("#state").get_attribute("data-state") == "rectified", refused(official)
    assert "现场.png" in official.locator("#history").inner_text()
    save_shot(screenshot_dir, official, "touch-official-phone-3-rectified")
    official.context.close()

    supervisor = signed_in(browser, site, "supervisor", "phone")
    supervisor.goto(task_url)
    assert supervisor.locator("#evidence img.thumb").count() >= 1
    tap_and_wait(supervisor, supervisor.get_by_role("button", name="核实通过", exact=True))
    assert supervisor.locator("#state").get_attribute("data-state") == "verified", refused(supervisor)
    tap_and_wait(supervisor, supervisor.get_by_role("button", name="销号", exact=True))
    assert supervisor.locator("#state").get_attribute("data-state") == "closed", refused(supervisor)
    last = supervisor.locator("#history ol.timeline li.event").last.inner_text()
    assert "销号" in last and "三门峡市住房和城乡建设局分管领导" in last
    save_shot(screenshot_dir, supervisor, "touch-supervisor-phone-closed")
    supervisor.context.close()
