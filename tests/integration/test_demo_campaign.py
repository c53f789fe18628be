"""`flask demo` on an empty database gives a campaign under way: what a new user sees
after `make run`, read through the API as each demo user would read it.

The demo is loaded once per backend at a fixed "today" (CAMPAIGN_NOW, a Wednesday in
December 2026) by the real command; the tests only read.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import select

import config as rectify_config
from app import create_app
from app.demo import SMX_COUNTIES, YZ_TOWNS
from app.demo_campaign import LUSHI_ANSWER, LUSHI_CARRIED, LUSHI_TOWNS, Campaign
from app.domain.deadlines import CHINA
from app.migrate import upgrade
from app.models import Notification
from tests.conftest import CAMPAIGN_NOW, Api, Clock, load_campaign_demo, need_service, pg_admin, pg_url, presign
from tests.integration.test_pages import login

pytestmark = pytest.mark.presigned
TODAY = CAMPAIGN_NOW.astimezone(CHINA).date()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def campaign(request, tmp_path_factory):
    if request.param == "sqlite":
        yield request.getfixturevalue("campaign_sqlite")
        return
    folder = tmp_path_factory.mktemp("campaign")
    name = f"rectify_campaign_{os.getpid()}"
    try:
        pg_admin(f"DROP DATABASE IF EXISTS {name}")
        pg_admin(f"CREATE DATABASE {name}")
    except Exception as err:
        need_service("PostgreSQL", type(err).__name__)
    try:
        load_campaign_demo(pg_url(name), folder / "instance")
        yield pg_url(name), folder / "instance"
    finally:
        pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def api(campaign):
    url, instance = campaign
    application = create_app(rectify_config.TestConfig(url, instance), clock=Clock(CAMPAIGN_NOW))
    yield presign(Api(application.test_client()), application)
    application.extensions["rectify"].db.dispose()


def all_tasks(api: Api, user: str, **filters) -> list[dict]:
    items, page = [], 1
    while True:
        body = api.get("/tasks", user, query_string={"per_page": 200, "page": page} | filters).get_json()
        items += body["items"]
        if len(items) >= body["total"]:
            return items
        page += 1


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def plan_ids(api: Api) -> dict[str, int]:
    return {p["doc_number"]: p["id"] for p in api.get("/plans", "admin").get_json()}


def test_both_seed_plans_keep_their_document_numbers_and_were_issued_weeks_before_today(api):
    plans = {p["doc_number"]: p for p in api.get("/plans", "admin").get_json()}
    assert set(plans) == {"三建〔2022〕187号", "禹建〔2022〕39号", LUSHI_ANSWER}
    for plan in plans.values():
        issued = date.fromisoformat(plan["issued_on"])
        assert TODAY - timedelta(days=56) <= issued <= TODAY - timedelta(days=21), issued


def test_tasks_stand_in_every_state_and_every_colour_with_deadlines_before_and_after_today(api):
    tasks = all_tasks(api, "admin")
    answering = len(LUSHI_CARRIED) * len(LUSHI_TOWNS) + 1  # 卢氏县's plan for its townships
    added = 1 + len(SMX_COUNTIES)  # one problem the city added for one county, one more for every county
    assert len(tasks) == 8 * len(SMX_COUNTIES) + 1 + len(YZ_TOWNS) + 4 + answering + added
    assert set(Counter(t["state"] for t in tasks)) == {"identified", "in_progress", "rectified", "verified", "closed"}
    assert {"red", "yellow", "blue"} <= {t["colour"] for t in tasks}
    dues = [instant(t["due_at"]) for t in tasks if t["due_at"]]
    assert min(dues) < CAMPAIGN_NOW < max(dues)
    # the colour filter agrees with each task's colour
    for colour in ("red", "yellow", "blue"):
        listed = all_tasks(api, "admin", colour=colour)
        assert listed and {t["colour"] for t in listed} == {colour}


def test_overdue_tasks_have_climbed_to_levels_one_two_and_three_and_level_three_is_red(api):
    overdue = all_tasks(api, "admin", overdue="true")
    levels = Counter(t["escalation_level"] for t in overdue)
    assert {1, 2, 3} <= set(levels), levels
    for t in overdue:
        assert (t["colour"] == "red") == (t["escalation_level"] == 3) == t["public_notice"], t


def test_the_city_supervisor_sees_red_items_and_the_township_supervisor_yellow_ones(api):
    assert all_tasks(api, "smx_head", colour="red")
    assert all_tasks(api, "yz_head", colour="yellow")


@pytest.mark.parametrize("user", ["smx_head", "lushi_handler"])
def test_demo_users_have_unread_messages_in_their_inbox(api, user):
    body = api.get("/inbox", user).get_json()
    assert body["unread"] > 0 and body["items"]


def test_the_city_head_has_read_older_messages_and_not_the_newer_ones(api):
    items = api.get("/inbox", "smx_head").get_json()["items"]
    read = [n for n in items if n["read_at"]]
    unread = [n for n in items if not n["read_at"]]
    assert read and unread
    assert max(instant(n["created_at"]) for n in read) <= min(instant(n["created_at"]) for n in unread)


def test_reports_are_owed_submitted_accepted_and_returned(api):
    subs = [s for pid in plan_ids(api).values() for s in api.get(f"/plans/{pid}/submissions", "admin").get_json()]
    assert {"pending", "submitted", "accepted", "returned"} <= {s["state"] for s in subs}
    owed = [instant(s["due_at"]) > CAMPAIGN_NOW for s in subs if s["state"] == "pending"]
    assert any(owed) and not all(owed)  # some not due yet, some overdue
    assert all(s["decision_comment"] for s in subs if s["state"] == "returned")


def test_one_task_was_sent_back_with_a_reason_and_is_being_worked_again(api):
    mine = all_tasks(api, "lushi_handler", state="in_progress")
    sent_back = []
    for t in mine:
        history = api.get(f"/tasks/{t['id']}/history", "lushi_handler").get_json()
        sent_back += [e for e in history if e["from_state"] == "rectified" and e["to_state"] == "in_progress"]
    assert len(sent_back) == 1 and "约谈记录" in sent_back[0]["comment"]


def test_rectified_tasks_carry_real_png_photos_uploaded_by_the_unit(api):
    rectified = all_tasks(api, "smx_handler", state="rectified")
    assert rectified
    evidence = api.get(f"/tasks/{rectified[0]['id']}/evidence", "smx_handler").get_json()
    assert evidence and all(e["content_type"] == "image/png" for e in evidence)
    body = api.get(f"/evidence/{evidence[0]['id']}/content", "smx_handler").data
    assert body.startswith(b"\x89PNG\r\n\x1a\n") and len(body) == evidence[0]["size"]


def test_an_extension_waits_for_the_supervisors_decision(api):
    pending = []
    for t in all_tasks(api, "smx_deputy", overdue="true"):
        pending += [
            x for x in api.get(f"/tasks/{t['id']}/extensions", "smx_deputy").get_json() if x["state"] == "pending"
        ]
    assert len(pending) == 1


def test_the_history_is_honest_every_step_stamped_on_its_own_day_between_issue_and_today(api):
    closed = all_tasks(api, "smx_head", state="closed")
    days = set()
    for t in closed[:10]:
        history = api.get(f"/tasks/{t['id']}/history", "smx_head").get_json()
        stamps = [instant(e["at"]) for e in history]
        assert stamps == sorted(stamps) and stamps[-1] < CAMPAIGN_NOW
        assert [e["to_state"] for e in history if e["kind"] == "transition"][-1] == "closed"
        days |= {s.astimezone(CHINA).date() for s in stamps}
    assert len(days) >= 5


def test_the_dashboard_burn_down_has_weeks_of_history_and_falls(api):
    client = api.client
    assert login(client, "smx_head").status_code == 302
    page = client.get("/dashboard").get_data(as_text=True)
    data = json.loads(re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', page, re.S)[1])
    series = data["burndown"]
    assert len(series) >= 21
    counts = [n for _, n in series]
    assert max(counts) > counts[-1] > 0


def test_lushi_answered_the_city_plan_for_two_townships_and_the_city_reads_their_progress(api):
    ids = plan_ids(api)
    smx, answer = ids["三建〔2022〕187号"], ids[LUSHI_ANSWER]
    plan = api.get(f"/plans/{answer}", "smx_deputy").get_json()
    assert (plan["answers_plan_id"], plan["supervised_above"]) == (smx, False)
    below = api.get(f"/plans/{smx}/below", "smx_deputy").get_json()
    assert [b["doc_number"] for b in below] == [LUSHI_ANSWER]
    towns = {t["unit_name"] for p in below[0]["problems"] for t in p["tasks"]}
    assert towns == set(LUSHI_TOWNS.values())
    states = Counter(t["state"] for p in below[0]["problems"] for t in p["tasks"])
    assert states["closed"] == 1 and states["in_progress"] >= 2 and states["rectified"] == 1
    carried = [p for p in below[0]["problems"] if p["answers_task_id"]]
    assert len(carried) == len(LUSHI_CARRIED)
    # 卢氏县's 整改方案及台账 was met by the answering plan itself
    subs = api.get(f"/plans/{smx}/submissions", "smx_deputy").get_json()
    lushi = next(u["id"] for u in api.get("/units", "admin").get_json() if u["name"] == SMX_COUNTIES["lushi"])
    assert [s["answer_plan_id"] for s in subs if s["unit_id"] == lushi and s["answer_plan_id"]] == [answer]


def test_a_look_back_found_one_township_fix_gone_and_another_look_back_is_due(api):
    answer = plan_ids(api)[LUSHI_ANSWER]
    looks = api.get(f"/plans/{answer}/lookbacks", "lushi_sup").get_json()
    assert sorted(lb["state"] for lb in looks) == ["failed", "pending"]
    assert api.get(f"/plans/{answer}", "smx_deputy").get_json()["figures"]["rebounds"] == 1
    failed = next(lb for lb in looks if lb["state"] == "failed")
    assert api.get(f"/tasks/{failed['task_id']}", "lushi_sup").get_json()["state"] == "in_progress"
    pending = next(lb for lb in looks if lb["state"] == "pending")
    assert CAMPAIGN_NOW < instant(pending["due_at"]) < CAMPAIGN_NOW + timedelta(days=7)


def test_a_spot_check_was_drawn_and_one_task_failed_its_re_check_and_was_reopened(api):
    smx = plan_ids(api)["三建〔2022〕187号"]
    reopened = []
    for t in all_tasks(api, "smx_head", plan_id=smx, state="in_progress"):
        history = api.get(f"/tasks/{t['id']}/history", "smx_head").get_json()
        reopened += [e for e in history if e["comment"].startswith("抽查复核不通过")]
    assert len(reopened) == 1


@pytest.fixture
def backend() -> str:
    """The calendar test below needs a database only for the (empty) admin holiday table."""
    return "sqlite"


def test_the_story_fits_the_working_day_calendar_whatever_day_and_hour_the_demo_is_loaded(rt):
    """Told (scheduled, not played) for three instants a day over two years, holidays and
    weekends included: nothing falls on or after today, each task's steps come in order,
    and the look-back's 6月15日 items are exactly level-2 overdue."""
    start = date(2026, 1, 1)
    for n in range(0, 730):
        for hour in (8, 14, 20):
            now = datetime.combine(start + timedelta(days=n), time(hour, 30), tzinfo=CHINA)
            story = Campaign(rt, now)
            story.tell()
            assert story.level_today(story.yz_shift.on(date(2022, 6, 15))) == 2, now


def test_loading_the_demo_mails_nobody_even_where_mail_and_a_webhook_are_configured(tmp_path):
    """Weeks of history replayed must not reach anyone's mailbox today: while it loads,
    the demo writes inbox messages only, and afterwards the app's channels are back."""
    url = f"sqlite:///{tmp_path / 'rectify.db'}"
    upgrade(url)
    cfg = rectify_config.TestConfig(url, tmp_path / "instance")
    cfg.CHANNEL_SETTINGS = {
        "RECTIFY_SMTP_HOST": "127.0.0.1",
        "RECTIFY_SMTP_PORT": "2525",
        "RECTIFY_SMTP_SENDER": "rectify@example.gov.cn",
        "RECTIFY_WEBHOOK_URL": "http://127.0.0.1:9/hook",
        "RECTIFY_WEBHOOK_SECRET": "secret",
    }
    application = create_app(cfg, clock=Clock(CAMPAIGN_NOW))
    try:
        result = application.test_cli_runner().invoke(args=["demo", "--if-empty"])
        assert result.exit_code == 0, result.output
        with application.app_context():
            runtime = application.extensions["rectify"]
            channels = set(runtime.db.session().scalars(select(Notification.channel).distinct()))
            assert "inbox" in channels and not channels & {"email", "webhook"}, channels
            assert {"email", "webhook"} <= runtime.db.outbox["channels"]
    finally:
        application.extensions["rectify"].db.dispose()


def test_loaded_on_a_monday_before_the_send_window_opens_the_levels_and_colours_still_show(tmp_path):
    """Before 09:00 on a Monday nothing has happened today yet: the story ends on Friday,
    and Friday's levels are what the API shows."""
    monday_early = datetime(2026, 12, 7, 8, 30, tzinfo=CHINA)
    url = f"sqlite:///{tmp_path / 'rectify.db'}"
    load_campaign_demo(url, tmp_path / "instance", monday_early)
    application = create_app(rectify_config.TestConfig(url, tmp_path / "instance"), clock=Clock(monday_early))
    try:
        api = presign(Api(application.test_client()), application)
        tasks = all_tasks(api, "admin")
        assert {1, 2, 3} <= {t["escalation_level"] for t in tasks if t["overdue"]}
        assert {"red", "yellow", "blue"} <= {t["colour"] for t in tasks}
        assert api.get("/inbox", "smx_head").get_json()["unread"] > 0
    finally:
        application.extensions["rectify"].db.dispose()


def history_of(api: Api, task_id: int) -> list[dict]:
    return api.get(f"/tasks/{task_id}/history", "smx_deputy").get_json()


def test_the_counties_acknowledged_on_day_one_or_two_and_a_declined_task_was_reassigned(api):
    smx = plan_ids(api)["三建〔2022〕187号"]
    issued = date.fromisoformat(api.get(f"/plans/{smx}", "admin").get_json()["issued_on"])
    tasks = all_tasks(api, "smx_deputy", plan_id=smx)
    notice = [t for t in tasks if t["problem_title"] not in ADDED]
    assert {t["receipt"] for t in notice} == {"acknowledged"}
    days = {(instant(t["acknowledged_at"]).astimezone(CHINA).date() - issued).days for t in notice}
    assert min(days) >= 1 and max(days) <= 4  # the first or second working day (a weekend may lie between)
    assert all(t["acknowledged_by"] for t in notice)
    (moved,) = [t for t in tasks if t["problem_title"] == "危房改造补助资金未及时拨付到户"]
    assert moved["unit_name"] == SMX_COUNTIES["lingbao"] and moved["state"] == "closed"
    kinds = [e["kind"] for e in history_of(api, moved["id"])]
    assert kinds[:5] == ["created", "declined", "reassigned", "acknowledged", "transition"]
    reassigned = next(e for e in history_of(api, moved["id"]) if e["kind"] == "reassigned")
    assert reassigned["data"]["from_unit"] == SMX_COUNTIES["lushi"]


def test_one_county_has_not_acknowledged_a_later_task_and_its_ack_ladder_reached_the_city(api):
    smx = plan_ids(api)["三建〔2022〕187号"]
    later = [
        t
        for t in all_tasks(api, "smx_deputy", plan_id=smx)
        if t["problem_title"] == "举一反三排查危房改造补助资金拨付情况"
    ]
    waiting = [t for t in later if t["receipt"] != "acknowledged"]
    assert [t["unit_name"] for t in waiting] == [SMX_COUNTIES["sfq"]]
    assert waiting[0]["ack_level"] == 3 and waiting[0]["public_notice"] is False
    climbed = [e["comment"] for e in history_of(api, waiting[0]["id"]) if e["kind"] == "ack_escalation"]
    assert climbed[-1].startswith("逾期未签收，督办升级至第3级（下发方案单位）")
    inbox = api.get("/inbox", "smx_deputy").get_json()["items"]
    url = f"/tasks/{waiting[0]['id']}"
    assert any(m["subject"].startswith("【签收督办·3级】") and m["data"]["url"] == url for m in inbox)
    work = api.get("/tasks", "sfq_handler", query_string={"receipt": "pending"}).get_json()["items"]
    assert [t["id"] for t in work] == [waiting[0]["id"]]


ADDED = ("危房改造补助资金未及时拨付到户", "举一反三排查危房改造补助资金拨付情况")


@pytest.mark.parametrize("user", ["lushi_handler", "lushi_head", "smx_deputy", "gucheng_handler", "yz_handler"])
def test_every_message_in_a_demo_inbox_opens_the_page_it_is_about(api, user):
    """A reminder nobody can click through is half a reminder: each message on the inbox
    page links somewhere, and every link opens (a 报送 reminder lands on its report's row
    of the reports list, where it is handed in or reviewed)."""
    client = api.client
    assert login(client, user).status_code == 302
    page = client.get("/inbox").get_data(as_text=True)
    items = re.findall(r"<li class=\"[^\"]*\">(.*?)</li>", page.split('id="inbox"')[1], re.S)
    assert items, "an empty inbox proves nothing"
    links = [re.search(r'<a href="([^"]+)"', item) for item in items]
    assert all(links), [re.sub(r"\s+", " ", i)[:120] for i, a in zip(items, links, strict=True) if not a]
    for href in {a[1].replace("&amp;", "&") for a in links}:
        r = client.get(href, follow_redirects=True)
        assert r.status_code == 200, (href, r.status_code)
        if m := re.fullmatch(r"/submissions/(\d+)", href):
            assert f'id="submission-{m[1]}"' in r.get_data(as_text=True), href


def test_a_report_link_opens_for_those_who_see_the_report_only(api):
    sub = api.get("/inbox", "lushi_handler").get_json()["items"]
    href = next(m["data"]["url"] for m in sub if m["data"].get("url", "").startswith("/submissions/"))
    client = api.client
    assert login(client, "hubin_handler").status_code == 302
    assert client.get(href).status_code == 404  # another county's report
    assert login(client, "lushi_handler").status_code == 302
    r = client.get(href)
    assert r.status_code == 302 and r.headers["Location"].endswith(f"#submission-{href.rsplit('/', 1)[1]}")
