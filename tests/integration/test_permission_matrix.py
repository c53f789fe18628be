"""The permission matrix: every route of the API and the pages (from app.url_map) × every
method it takes × one actor in each relation to the record it names → the expected
answer. A refusal must write nothing: no committed row, no new file. A route missing
from the matrix fails the test, and so does a matrix row for a route that is gone.

The records are 卢氏县's, in the Sanmenxia city plan (plan 1). The relations:

- own / head: 卢氏县's handler and head (officials of the record's unit);
- sibling: 湖滨区's handler (a county beside it, in the same plan);
- issuer: the city bureau's deputy (the plan's issuing supervisor);
- other_city: 禹州's deputy (a supervisor of another city);
- viewer: the city bureau's read-only user; admin: the administrator; nobody: signed out.

Answers are written "404", or "302!" for a form that was refused (redirected back with
a message, nothing written), or "201+" for a success that must write. Within one route,
refusals are tried first; after each success the next actor gets a fresh record.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event, insert, select

from app.demo import DEMO_PASSWORD, SMX_COUNTIES
from app.models import Lookback, Notification, Problem, SpotCheckItem, Submission, Task, Unit, User
from app.services.drafts.layout import default_template
from tests.integration.test_ledger_io import finished
from tests.integration.test_web_security import PNG, Browser

pytestmark = pytest.mark.presigned

ACTORS = {
    "own": "lushi_handler",
    "head": "lushi_head",
    "sibling": "hubin_handler",
    "issuer": "smx_deputy",
    "other_city": "yz_deputy",
    "viewer": "smx_viewer",
    "admin": "admin",
    "nobody": None,
}
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "ledgers" / "sanmenxia.xlsx"
OVERDUE = datetime(2022, 6, 22, 1, 5, tzinfo=UTC)  # two days past 卢氏县's 6月20日 tasks


def answers(rest: str, **by_relation: str) -> dict[str, str]:
    """Every relation's answer: ``rest`` unless named. ``nobody`` defaults to the
    signed-out answer of the API (401) or the pages (302 to the sign-in page), filled in
    by :class:`Case`."""
    return {rel: by_relation.get(rel, rest) for rel in ACTORS if rel != "nobody" or rel in by_relation}


EVERYONE = answers("200")
SEES_PLAN = answers("200", other_city="404")  # plan 1: the city, its counties, the admin
SEES_LUSHI = answers("200", sibling="404", other_city="404")  # 卢氏县's records
ADMIN_ONLY_API = answers("403", admin="200+")
ADMIN_ONLY_PAGE = answers("404", admin="200")


# ---- the world one route is tried in ------------------------------------------------------------
@dataclass
class Ctx:
    """Fresh records on demand: a record is reused by refused actors, and replaced after a
    success (so the next actor meets it in the same state)."""

    app: object
    api: object
    clock: object
    cache: dict = field(default_factory=dict)
    used_tasks: set = field(default_factory=set)
    tokens: list = field(default_factory=list)  # every import previewed, to wait for its job
    browsers: dict = field(default_factory=dict)

    def read(self, fn: Callable):
        with self.app.app_context():
            return fn(self.app.extensions["rectify"].db.session())

    def unit(self, name: str) -> int:
        return self.read(lambda s: s.scalar(select(Unit.id).where(Unit.name == name)))

    def user(self, username: str) -> int:
        return self.read(lambda s: s.scalar(select(User.id).where(User.username == username)))

    def once(self, key: str, make: Callable):
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    def browser(self, rel: str) -> Browser:
        if rel not in self.browsers:
            self.browsers[rel] = Browser(self.app, ACTORS[rel])
        return self.browsers[rel]

    # records
    @property
    def lushi(self) -> int:
        return self.unit(SMX_COUNTIES["lushi"])

    def task(self, due: str | None = None) -> int:
        """A 卢氏县 task of plan 1 nobody has touched yet (optionally due on ``due``)."""

        def make():
            def pick(s):
                q = select(Task.id).where(Task.plan_id == 1, Task.unit_id == self.lushi, Task.state == "identified")
                if due:
                    q = q.join(Problem, Task.problem_id == Problem.id).where(Problem.deadline_text.startswith(due))
                return next(t for t in s.scalars(q.order_by(Task.id.desc())) if t not in self.used_tasks)

            tid = self.read(pick)
            self.used_tasks.add(tid)
            return tid

        return self.once("task", make)

    def ok(self, r, code: int = 200):
        assert r.status_code == code, (r.status_code, r.get_data(as_text=True)[:300])
        return r.get_json()

    def post(self, path: str, who: str, **kw):
        return self.api.post(path, who, **kw)

    def move(self, tid: int, who: str, to: str, version: int, comment: str = "") -> None:
        self.ok(self.post(f"/tasks/{tid}/transitions", who, json={"to": to, "version": version, "comment": comment}))

    def evidence(self) -> int:
        tid = self.task()
        return self.once("evidence", lambda: self.ok(self._upload(tid), 201)["id"])

    def _upload(self, tid: int):
        return self.post(f"/tasks/{tid}/evidence", "lushi_handler", data={"file": (io.BytesIO(PNG), "现场.png")})

    def extension(self) -> int:
        tid = self.task()
        body = {"deadline": "9月30日", "reason": "雨季施工困难"}
        return self.once(
            "extension", lambda: self.ok(self.post(f"/tasks/{tid}/extensions", "lushi_handler", json=body), 201)["id"]
        )

    def closed_task(self) -> int:
        def make():
            tid = self.task()
            self.move(tid, "lushi_handler", "in_progress", 1)
            self.ok(self._upload(tid), 201)
            self.move(tid, "lushi_handler", "rectified", 2, "已整改")
            self.move(tid, "smx_deputy", "verified", 3)
            self.move(tid, "smx_head", "closed", 4)
            return tid

        return self.once("closed", make)

    def spot_item(self) -> int:
        def make():
            tid = self.closed_task()
            self.browser("issuer").post("/plans/1/spot-checks", {"size": "500", "seed": "1"})
            q = select(SpotCheckItem.id).where(SpotCheckItem.task_id == tid, SpotCheckItem.result == "pending")
            return self.read(lambda s: s.scalar(q.order_by(SpotCheckItem.id.desc())))

        return self.once("item", make)

    def lookback(self) -> int:
        """A look-back (回头看) due on a closed 卢氏县 task: plan 1 schedules one 5 days after closure."""

        def make():
            self.ok(self.api.call("PUT", "/plans/1/policy", "smx_deputy", json={"lookback_days": 5}))
            tid = self.closed_task()
            q = select(Lookback.id).where(Lookback.task_id == tid, Lookback.state == "pending")
            return self.read(lambda s: s.scalar(q.order_by(Lookback.id.desc())))

        return self.once("lookback", make)

    def submission(self, submitted: bool = False) -> int:
        def make():
            body = {"title": "整改情况报告", "schedule": "6月30日前", "unit_ids": [self.lushi]}
            ob = self.ok(self.post("/plans/1/obligations", "smx_deputy", json=body), 201)["id"]
            sid = self.read(lambda s: s.scalar(select(Submission.id).where(Submission.obligation_id == ob)))
            if submitted:
                self.ok(self.post(f"/submissions/{sid}/submit", "lushi_handler", data={"note": "已报", "version": "1"}))
            return sid

        return self.once(f"submission{submitted}", make)

    def ledger_submission(self) -> int:
        """A weekly report 卢氏县 owes from the ledger."""

        def make():
            body = {"title": "周报", "schedule": "每周五", "unit_ids": [self.lushi], "from_ledger": "sanmenxia"}
            ob = self.ok(self.post("/plans/1/obligations", "smx_deputy", json=body), 201)["id"]
            return self.read(lambda s: s.scalar(select(Submission.id).where(Submission.obligation_id == ob)))

        return self.once("ledger_submission", make)

    def report_file(self) -> int:
        """A report 卢氏县 handed in with a file."""

        def make():
            sid = self.submission()
            data = {"note": "已报", "version": "1", "file": (io.BytesIO(PNG), "整改情况报告.png")}
            self.ok(self.post(f"/submissions/{sid}/submit", "lushi_handler", data=data))
            return sid

        return self.once("report_file", make)

    def notification(self) -> int:
        def make():
            row = {
                "key": f"matrix:{self.clock.now.isoformat()}:{len(self.used_tasks)}",
                "item_type": "task",
                "item_id": 1,
                "step": "remind:3d",
                "kind": "remind",
                "recipient_id": self.user("lushi_handler"),
                "channel": "inbox",
                "status": "sent",
                "subject": "提醒",
                "body": "提醒",
                "data": {},
                "created_at": self.clock.now,
                "next_attempt_at": self.clock.now,
            }
            with self.app.app_context():
                db = self.app.extensions["rectify"].db
                with db.transaction() as s:
                    return s.scalar(insert(Notification).values(**row).returning(Notification.id))

        return self.once("notification", make)

    def import_token(self) -> str:
        def make():
            data = {"file": (io.BytesIO(FIXTURE.read_bytes()), "台账.xlsx")}
            self.tokens.append(self.ok(self.post("/plans/1/ledger/preview", "smx_deputy", data=data))["token"])
            return self.tokens[-1]

        return self.once("token", make)

    def declined_task(self) -> int:
        """A 卢氏县 task its unit declined (拒收), waiting on the city."""

        def make():
            tid = self.task()
            self.ok(self.post(f"/tasks/{tid}/decline", "lushi_handler", json={"reason": "不属本单位", "version": 1}))
            return tid

        return self.once("declined", make)

    def fresh_assignment(self) -> int:
        """A problem the city has just assigned to 卢氏县 (a task awaiting its 签收)."""
        body = {"nature": "individual", "title": "新交办问题", "deadline": "6月30日", "unit_ids": [self.lushi]}
        return self.once(
            "assigned", lambda: self.ok(self.post("/plans/1/problems", "smx_deputy", json=body), 201)["id"]
        )

    def problem9(self) -> int:
        return self.read(lambda s: s.scalar(select(Problem.id).where(Problem.plan_id == 1, Problem.seq == 9)))

    def problem9_edit(self) -> dict:
        """Problem 9 as read, its measures reworded, for its own units."""

        def read(s):
            p = s.get(Problem, self.problem9())
            units = list(s.scalars(select(Task.unit_id).where(Task.problem_id == p.id)))
            fields = ("title", "category", "nature", "description", "source", "remarks")
            return {k: getattr(p, k) for k in fields} | {
                "measures": p.measures + "（修订）",
                "deadline": p.deadline_text,
                "unit_ids": units,
                "version": p.version,
            }

        return self.read(read)


# ---- the matrix ---------------------------------------------------------------------------------
Request = Callable[[Ctx], tuple[str, dict]]  # the path and the request's keyword arguments


@dataclass
class Case:
    request: Request
    expect: dict[str, str]
    page: bool = False  # a page of the web blueprint (signed in by session, forms with CSRF)
    public: bool = False  # answers the signed-out the same as anyone
    before: Callable[[Ctx], None] | None = None
    after: Callable[[Ctx], None] | None = None

    def answers(self) -> dict[str, str]:
        if self.public:
            return {rel: self.expect.get(rel, self.expect["own"]) for rel in ACTORS}
        signed_out = "302!" if self.page else "401"  # to the sign-in page
        return self.expect | {"nobody": self.expect.get("nobody", signed_out)}


def api(path: Request | str, expect: dict[str, str], **kw) -> Case:
    return Case(path if callable(path) else lambda c: (path, {}), expect, **kw)


def page(path: Request | str, expect: dict[str, str], **kw) -> Case:
    return Case(path if callable(path) else lambda c: (path, {}), expect, page=True, **kw)


def j(path: str, body: dict) -> tuple[str, dict]:
    return path, {"json": body}


def form(path: str, fields: dict) -> tuple[str, dict]:
    return path, {"data": fields}


RESPONSIBLE_WRITE = answers("403", own="201+", head="201+", sibling="404", other_city="404")
RESPONSIBLE_FORM = answers("302!", own="302+", head="302+", sibling="404", other_city="404")
SUPERVISOR_WRITE = answers("403", issuer="200+", sibling="404", other_city="404")
SUPERVISOR_FORM = answers("302!", issuer="302+", sibling="404", other_city="404")
NOTICE_DRAFT = answers("403", issuer="200", other_city="404")  # the 通报 draft: the plan's supervising side
KEEPS_TEMPLATES = answers("201+", viewer="403", admin="403")  # each unit's own templates
TOKEN_OWNER = answers("404", issuer="200")

MATRIX: dict[tuple[str, str], Case] = {
    # ---- API: sign-in, the user, units and users ------------------------------------------
    ("api.create_token", "POST"): api(
        lambda c: j("/auth/token", {"username": "lushi_handler", "password": DEMO_PASSWORD}), EVERYONE, public=True
    ),
    ("api.openapi", "GET"): api("/openapi.json", EVERYONE, public=True),
    ("api.me", "GET"): api("/me", EVERYONE),
    ("api.set_preferences", "PUT"): api(lambda c: j("/me/preferences", {"digest": True}), answers("200+")),
    ("api.get_preferences", "GET"): api("/me/preferences", EVERYONE),
    ("api.list_units", "GET"): api("/units", EVERYONE),
    ("api.get_unit", "GET"): api(lambda c: (f"/units/{c.lushi}", {}), SEES_LUSHI),
    ("api.create_unit", "POST"): api(
        lambda c: j("/units", {"name": "新乡镇", "parent_id": c.lushi}),
        answers("403", admin="201+"),
    ),
    ("api.set_unit_notice", "PUT"): api(
        lambda c: j(f"/units/{c.lushi}/notice", {"notice_prefix": "卢建督", "contact_person": "张某某"}),
        ADMIN_ONLY_API,
    ),
    ("api.set_robot", "PUT"): api(
        lambda c: j(f"/units/{c.lushi}/robot", {"kind": "wecom", "url": "https://qyapi.weixin.qq.com/x"}),
        ADMIN_ONLY_API,
    ),
    ("api.list_users", "GET"): api("/users", EVERYONE),
    ("api.create_user", "POST"): api(
        lambda c: j(
            "/users",
            {"username": "matrix_user", "password": "long-enough-pw", "unit_id": c.lushi, "role": "official"},
        ),
        answers("403", admin="201+"),
    ),
    ("api.failed_notifications", "GET"): api("/admin/failed-notifications", answers("403", admin="200")),
    # ---- API: the calendar -------------------------------------------------------------------
    ("api.list_overrides", "GET"): api("/calendar/overrides", EVERYONE),
    ("api.set_override", "PUT"): api(
        lambda c: j("/calendar/overrides", {"day": "2022-07-02", "is_workday": True, "note": "调休"}), ADMIN_ONLY_API
    ),
    ("api.list_calendar_years", "GET"): api("/calendar/years", EVERYONE),
    ("api.set_calendar_year", "PUT"): api(lambda c: j("/calendar/years/2030", {"official": True}), ADMIN_ONLY_API),
    # ---- API: plans and problems -----------------------------------------------------------
    ("api.list_plans", "GET"): api("/plans", EVERYONE),
    ("api.create_plan", "POST"): api(
        lambda c: j("/plans", {"title": "矩阵测试方案", "issued_on": "2022-06-07"}),
        answers("403", issuer="201+", other_city="201+"),  # each for their own unit
    ),
    ("api.get_plan", "GET"): api("/plans/1", SEES_PLAN),
    ("api.update_plan", "PUT"): api(
        lambda c: j("/plans/1", {"title": "三门峡市整改方案（修订）", "version": 1}),
        answers("403", issuer="200+", other_city="404"),
    ),
    ("api.list_problems", "GET"): api("/plans/1/problems", SEES_PLAN),
    ("api.create_problem", "POST"): api(
        lambda c: j(
            "/plans/1/problems",
            {"nature": "individual", "title": "自查问题", "deadline": "6月30日", "unit_ids": [c.lushi]},
        ),
        # the plan's supervisor assigns it; 卢氏县 reports its own finding; 湖滨区 may not report for 卢氏县
        answers("403", own="201+", head="201+", issuer="201+", other_city="404"),
    ),
    ("api.get_problem", "GET"): api(lambda c: (f"/problems/{c.problem9()}", {}), SEES_LUSHI),
    ("api.update_problem", "PUT"): api(
        lambda c: j(f"/problems/{c.problem9()}", c.problem9_edit()),
        answers("403", issuer="200+", sibling="404", other_city="404"),
    ),
    ("api.withdraw_problem", "POST"): api(
        lambda c: j(f"/problems/{c.problem9()}/withdraw", {"reason": "与其他问题重复"}),
        answers("403", issuer="200+", sibling="404", other_city="404"),
    ),
    # ---- API: answering plans, the progress below, look-backs (回头看) ---------------------
    # answering: a supervisor of a unit with tasks in the plan; 卢氏县's people are officials,
    # the city issued it (tests/integration/test_tree_campaign.py has the county supervisor)
    ("api.answer_plan", "POST"): api(
        lambda c: j("/plans/1/answer", {"title": "县级整改方案", "issued_on": "2022-06-08"}),
        answers("403", other_city="404"),
    ),
    ("api.plan_below", "GET"): api("/plans/1/below", SEES_PLAN),
    ("api.task_answers", "GET"): api(lambda c: (f"/tasks/{c.task()}/answers", {}), SEES_LUSHI),
    ("api.plan_lookbacks", "GET"): api("/plans/1/lookbacks", SEES_PLAN),
    ("api.lookback_result", "POST"): api(
        lambda c: j(f"/lookbacks/{c.lookback()}/result", {"confirmed": True, "comment": "整改到位", "version": 1}),
        SUPERVISOR_WRITE,
    ),
    ("api.acknowledge_all", "POST"): api(
        lambda c: (c.fresh_assignment() and "/plans/1/acknowledge", {}),
        # each for their own unit (湖滨区 has demo tasks awaiting 签收 too); the city has none of its own
        answers("403", own="200+", head="200+", sibling="200+", issuer="409", other_city="404"),
    ),
    ("api.get_policy", "GET"): api("/plans/1/policy", SEES_PLAN),
    ("api.set_policy", "PUT"): api(
        lambda c: j("/plans/1/policy", {"remind_days_before": [5, 1]}),
        answers("403", issuer="200+", other_city="404"),
    ),
    # ---- API: ledger files --------------------------------------------------------------------
    ("api.preview_ledger", "POST"): api(
        lambda c: ("/plans/1/ledger/preview", {"data": {"file": (io.BytesIO(FIXTURE.read_bytes()), "台账.xlsx")}}),
        # a county may import its own findings (the city's rows come back as row errors)
        answers("200", viewer="403", admin="403", other_city="404"),
    ),
    ("api.commit_ledger", "POST"): api(
        lambda c: j("/plans/1/ledger/commit", {"token": c.import_token()}),
        answers("404", issuer="202+"),
        after=lambda c: [finished(c.api, 1, "smx_deputy", t) for t in c.tokens],
    ),
    ("api.ledger_import_status", "GET"): api(
        lambda c: (f"/plans/1/ledger/imports/{c.import_token()}", {}), TOKEN_OWNER
    ),
    ("api.export_ledger_xlsx", "GET"): api("/plans/1/ledger.xlsx", SEES_PLAN),
    ("api.export_ledger_csv", "GET"): api("/plans/1/ledger.csv", SEES_PLAN),
    # ---- API: tasks --------------------------------------------------------------------------
    ("api.list_tasks", "GET"): api("/tasks", EVERYONE),
    ("api.get_task", "GET"): api(lambda c: (f"/tasks/{c.task()}", {}), SEES_LUSHI),
    ("api.history", "GET"): api(lambda c: (f"/tasks/{c.task()}/history", {}), SEES_LUSHI),
    ("api.chain_head", "GET"): api(
        lambda c: (f"/chain/head?as_of=2022-06-08T09:00:00%2B08:00&tasks={c.task()}", {}), SEES_LUSHI
    ),
    ("api.transition", "POST"): api(
        lambda c: j(f"/tasks/{c.task()}/transitions", {"to": "in_progress", "version": 1}),
        answers("403", own="200+", head="200+", sibling="404", other_city="404"),
    ),
    ("api.acknowledge", "POST"): api(
        lambda c: j(f"/tasks/{c.task()}/acknowledge", {"version": 1}),
        answers("403", own="200+", head="200+", sibling="404", other_city="404"),
    ),
    ("api.decline", "POST"): api(
        lambda c: j(f"/tasks/{c.task()}/decline", {"reason": "不属本单位职责", "version": 1}),
        answers("403", own="200+", head="200+", sibling="404", other_city="404"),
    ),
    ("api.insist", "POST"): api(
        lambda c: j(f"/tasks/{c.declined_task()}/insist", {"reason": "仍属本单位", "version": 2}), SUPERVISOR_WRITE
    ),
    ("api.narrow", "POST"): api(
        lambda c: j(f"/tasks/{c.declined_task()}/narrow", {"scope": "仅限城关镇", "reason": "缩小", "version": 2}),
        SUPERVISOR_WRITE,
    ),
    ("api.reassign", "POST"): api(
        lambda c: j(
            f"/tasks/{c.task()}/reassign",
            {"unit_id": c.unit(SMX_COUNTIES["hubin"]), "reason": "属湖滨区", "version": 1},
        ),
        SUPERVISOR_WRITE,
    ),
    ("api.split", "POST"): api(
        lambda c: j(
            f"/tasks/{c.task()}/split",
            {"unit_ids": [c.unit(SMX_COUNTIES["yima"])], "reason": "涉及义马市", "version": 1},
        ),
        answers("403", issuer="201+", sibling="404", other_city="404"),
    ),
    ("api.list_evidence", "GET"): api(lambda c: (f"/tasks/{c.task()}/evidence", {}), SEES_LUSHI),
    ("api.upload_evidence", "POST"): api(
        lambda c: (f"/tasks/{c.task()}/evidence", {"data": {"file": (io.BytesIO(PNG), "现场.png")}}),
        RESPONSIBLE_WRITE,
    ),
    ("api.download_evidence", "GET"): api(lambda c: (f"/evidence/{c.evidence()}/content", {}), SEES_LUSHI),
    ("api.list_extensions", "GET"): api(lambda c: (f"/tasks/{c.task()}/extensions", {}), SEES_LUSHI),
    ("api.request_extension", "POST"): api(
        lambda c: j(f"/tasks/{c.task()}/extensions", {"deadline": "9月30日", "reason": "雨季施工困难"}),
        RESPONSIBLE_WRITE,
    ),
    ("api.urge", "POST"): api(lambda c: j("/urges", {"task_ids": [c.task()], "comment": "请抓紧"}), SUPERVISOR_WRITE),
    ("api.decide_extension", "POST"): api(
        lambda c: j(f"/extensions/{c.extension()}/decision", {"approve": True, "comment": "同意"}), SUPERVISOR_WRITE
    ),
    # ---- API: reports, inbox -----------------------------------------------------------------
    ("api.create_obligation", "POST"): api(
        lambda c: j("/plans/1/obligations", {"title": "整改报告", "schedule": "6月30日前", "unit_ids": [c.lushi]}),
        answers("403", issuer="201+", other_city="404"),
    ),
    ("api.list_submissions", "GET"): api("/plans/1/submissions", SEES_PLAN),
    ("api.submit", "POST"): api(
        lambda c: (f"/submissions/{c.submission()}/submit", {"data": {"note": "已报", "version": "1"}}),
        answers("403", own="200+", head="200+", sibling="404", other_city="404"),
    ),
    ("api.review", "POST"): api(
        lambda c: j(f"/submissions/{c.submission(submitted=True)}/review", {"accept": True, "version": 2}),
        SUPERVISOR_WRITE,
    ),
    # ---- API: drafted documents --------------------------------------------------------------
    ("api.draft_report", "GET"): api("/plans/1/report.docx", SEES_PLAN),
    ("api.draft_notice", "GET"): api("/plans/1/notice-draft.docx", NOTICE_DRAFT),
    ("api.draft_submission", "GET"): api(lambda c: (f"/submissions/{c.submission()}/draft.docx", {}), SEES_LUSHI),
    ("api.period_changes", "GET"): api(lambda c: (f"/submissions/{c.ledger_submission()}/changes", {}), SEES_LUSHI),
    ("api.list_templates", "GET"): api("/report-templates", EVERYONE),
    ("api.template_file", "GET"): api("/report-templates/report.docx", EVERYONE),
    ("api.upload_template", "POST"): api(
        lambda c: (
            "/report-templates/report/upload",
            {"data": {"file": (io.BytesIO(default_template("report")), "模板.docx")}},
        ),
        KEEPS_TEMPLATES,
    ),
    ("api.list_inbox", "GET"): api("/inbox", EVERYONE),
    ("api.read_one", "POST"): api(lambda c: (f"/inbox/{c.notification()}/read", {}), answers("404", own="200+")),
    ("api.read_all", "POST"): api("/inbox/read-all", EVERYONE),
    # ---- pages: signing in, account --------------------------------------------------------------
    ("web.login", "GET"): page("/login", EVERYONE, public=True),
    ("web.login", "POST"): page(
        lambda c: form("/login", {"username": "lushi_handler", "password": DEMO_PASSWORD}), answers("302"), public=True
    ),
    ("web.logout", "POST"): page("/logout", answers("302"), public=True),
    ("web.switch_lang", "GET"): page("/lang/en", answers("302"), public=True),
    ("static", "GET"): page("/static/app.css", EVERYONE, public=True),
    ("web.favicon", "GET"): page("/favicon.ico", answers("301"), public=True),
    ("web.password", "GET"): page("/account/password", EVERYONE),
    ("web.password", "POST"): page(
        lambda c: form(
            "/account/password", {"current": DEMO_PASSWORD, "new": "a-new-secret", "repeat": "a-new-secret"}
        ),
        answers("302+"),
    ),
    ("web.preferences", "GET"): page("/account/preferences", EVERYONE),
    ("web.preferences", "POST"): page(
        lambda c: form("/account/preferences", {"lang": "zh", "event_rejected": "off"}), answers("302+")
    ),
    ("web.index", "GET"): page("/", EVERYONE),
    ("web.dashboard_page", "GET"): page("/dashboard", EVERYONE),
    ("web.inbox_page", "GET"): page("/inbox", EVERYONE),
    ("web.inbox_read", "POST"): page(
        lambda c: form("/inbox/read", {"id": str(c.notification())}), answers("404", own="302+")
    ),
    # ---- pages: administration -------------------------------------------------------------------
    ("web.admin_units", "GET"): page("/admin/units", ADMIN_ONLY_PAGE),
    ("web.admin_units", "POST"): page(
        lambda c: form("/admin/units", {"name": "横涧乡人民政府", "kind": "乡镇", "parent_id": str(c.lushi)}),
        answers("404", admin="302+"),
    ),
    ("web.admin_unit_notice", "POST"): page(
        lambda c: form(f"/admin/units/{c.lushi}/notice", {"notice_prefix": "卢建督", "contact_person": "张某某"}),
        answers("404", admin="302+"),
    ),
    ("web.admin_users", "GET"): page("/admin/users", ADMIN_ONLY_PAGE),
    ("web.admin_users", "POST"): page(
        lambda c: form(
            "/admin/users",
            {"username": "matrix_page_user", "password": "long-enough-pw", "unit_id": str(c.lushi), "role": "official"},
        ),
        answers("404", admin="302+"),
    ),
    ("web.admin_messages", "GET"): page("/admin/messages", ADMIN_ONLY_PAGE),
    ("web.admin_holidays", "GET"): page("/admin/holidays", ADMIN_ONLY_PAGE),
    ("web.admin_holidays", "POST"): page(
        lambda c: form("/admin/holidays", {"day": "2022-07-02", "is_workday": "1", "note": "调休"}),
        answers("404", admin="302+"),
    ),
    ("web.admin_holiday_year", "POST"): page(
        lambda c: form("/admin/holidays/years/2030", {"official": "1"}), answers("404", admin="302+")
    ),
    # ---- pages: plans --------------------------------------------------------------------------
    ("web.plan_list", "GET"): page("/plans", EVERYONE),
    ("web.plan_detail", "GET"): page("/plans/1", SEES_PLAN),
    ("web.plan_policy", "GET"): page("/plans/1/policy", SEES_PLAN),
    ("web.plan_policy", "POST"): page(
        lambda c: form("/plans/1/policy", {"remind_days_before": "5,1", "remind_on_day": "1"}),
        answers("302!", issuer="302+", other_city="404"),
    ),
    ("web.plan_edit", "GET"): page("/plans/1/edit", answers("403", issuer="200", other_city="404")),
    ("web.plan_edit", "POST"): page(
        lambda c: form("/plans/1/edit", {"title": "三门峡市整改方案（修订）", "version": "1"}),
        answers("403", issuer="302+", other_city="404"),
    ),
    ("web.plan_new", "GET"): page("/plans/new", answers("403", issuer="200", other_city="200")),
    ("web.plan_new", "POST"): page(
        lambda c: form("/plans/new", {"title": "矩阵页面方案", "issued_on": "2022-06-07"}),
        answers("403", issuer="302+", other_city="302+"),  # each for their own unit
    ),
    ("web.problem_new", "GET"): page(
        "/plans/1/problems/new", answers("200", viewer="403", admin="403", other_city="404")
    ),
    ("web.problem_new", "POST"): page(
        lambda c: form(
            "/plans/1/problems/new",
            {"nature": "individual", "title": "自查问题", "deadline": "6月30日", "target": "some", "unit_ids": c.lushi},
        ),
        # the plan's supervisor assigns it; 卢氏县 reports its own finding; 湖滨区 may not report for 卢氏县
        answers("403", own="302+", head="302+", issuer="302+", sibling="302!", other_city="404"),
    ),
    ("web.problem_detail", "GET"): page(lambda c: (f"/problems/{c.problem9()}", {}), SEES_LUSHI),
    ("web.problem_edit", "GET"): page(
        lambda c: (f"/problems/{c.problem9()}/edit", {}), answers("403", issuer="200", sibling="404", other_city="404")
    ),
    ("web.problem_edit", "POST"): page(
        lambda c: form(
            f"/problems/{c.problem9()}/edit",
            {k: str(v) for k, v in c.problem9_edit().items() if k != "unit_ids"}
            | {"target": "some", "unit_ids": [str(u) for u in c.problem9_edit()["unit_ids"]]},
        ),
        answers("403", issuer="302+", sibling="404", other_city="404"),
    ),
    ("web.problem_withdraw", "POST"): page(
        lambda c: form(f"/problems/{c.problem9()}/withdraw", {"reason": "与其他问题重复"}),
        answers("302!", issuer="302+", sibling="404", other_city="404"),
    ),
    ("web.obligation_new", "GET"): page("/plans/1/obligations/new", answers("403", issuer="200", other_city="404")),
    ("web.obligation_new", "POST"): page(
        lambda c: form(
            "/plans/1/obligations/new",
            {"title": "整改报告", "schedule": "6月30日前", "target": "some", "unit_ids": c.lushi},
        ),
        answers("403", issuer="302+", other_city="404"),
    ),
    ("web.ledger_export", "GET"): page("/plans/1/export.xlsx", SEES_PLAN),
    ("web.ledger_import", "GET"): page("/plans/1/import", answers("200", viewer="403", admin="403", other_city="404")),
    ("web.ledger_import", "POST"): page(
        lambda c: ("/plans/1/import", {"data": {"file": (io.BytesIO(FIXTURE.read_bytes()), "台账.xlsx")}}),
        answers("200", viewer="403", admin="403", other_city="404"),
    ),
    ("web.ledger_commit", "POST"): page(
        lambda c: form(f"/plans/1/import/{c.import_token()}", {}),
        answers("404", issuer="302+"),
        after=lambda c: [finished(c.api, 1, "smx_deputy", t) for t in c.tokens],
    ),
    ("web.ledger_import_page", "GET"): page(lambda c: (f"/plans/1/import/{c.import_token()}", {}), TOKEN_OWNER),
    ("web.ledger_import_progress", "GET"): page(
        lambda c: (f"/plans/1/import/{c.import_token()}/status", {}), TOKEN_OWNER
    ),
    ("web.plan_answer", "GET"): page("/plans/1/answer", answers("403", other_city="404")),
    ("web.plan_answer", "POST"): page(
        lambda c: form("/plans/1/answer", {"title": "县级整改方案", "issued_on": "2022-06-08"}),
        answers("403", other_city="404"),
    ),
    ("web.lookback_result", "POST"): page(
        lambda c: form(f"/lookbacks/{c.lookback()}", {"confirmed": "1", "version": "1", "task_id": "0"}),
        SUPERVISOR_FORM,
    ),
    ("web.spot_checks", "GET"): page("/plans/1/spot-checks", answers("404", issuer="200", viewer="200", admin="200")),
    ("web.spot_check_draw", "POST"): page(
        lambda c: (c.closed_task(), form("/plans/1/spot-checks", {"size": "5", "seed": "1"}))[1],
        answers("302!", issuer="302+", other_city="404"),
    ),
    ("web.spot_check_result", "POST"): page(
        lambda c: form(f"/spot-check-items/{c.spot_item()}", {"passed": "1", "comment": "", "plan_id": "1"}),
        SUPERVISOR_FORM,
    ),
    # ---- pages: tasks ----------------------------------------------------------------------------
    ("web.task_list", "GET"): page("/tasks", EVERYONE),
    ("web.unit_choices", "GET"): page("/units/choices", EVERYONE),  # each sees their own units
    ("web.header_counts", "GET"): page("/header-counts", EVERYONE),  # each counts their own
    ("web.task_detail", "GET"): page(lambda c: (f"/tasks/{c.task()}", {}), SEES_LUSHI),
    ("web.task_notice", "GET"): page(
        lambda c: (f"/tasks/{c.task(due='6月20日')}/notice", {}),
        SEES_LUSHI,
        before=lambda c: setattr(c.clock, "now", OVERDUE),
    ),
    ("web.task_transition", "POST"): page(
        lambda c: form(f"/tasks/{c.task()}/transition", {"to": "in_progress", "version": "1", "comment": ""}),
        RESPONSIBLE_FORM,
    ),
    ("web.task_acknowledge", "POST"): page(
        lambda c: form(f"/tasks/{c.task()}/acknowledge", {"version": "1"}), RESPONSIBLE_FORM
    ),
    ("web.task_decline", "POST"): page(
        lambda c: form(f"/tasks/{c.task()}/decline", {"version": "1", "reason": "不属本单位职责"}), RESPONSIBLE_FORM
    ),
    ("web.task_insist", "POST"): page(
        lambda c: form(f"/tasks/{c.declined_task()}/insist", {"version": "2", "reason": "仍属本单位"}),
        SUPERVISOR_FORM,
    ),
    ("web.task_narrow", "POST"): page(
        lambda c: form(f"/tasks/{c.declined_task()}/narrow", {"version": "2", "scope": "仅限城关镇", "reason": "缩小"}),
        SUPERVISOR_FORM,
    ),
    ("web.task_reassign", "POST"): page(
        lambda c: form(
            f"/tasks/{c.task()}/reassign",
            {"version": "1", "unit_id": str(c.unit(SMX_COUNTIES["hubin"])), "reason": "属湖滨区"},
        ),
        SUPERVISOR_FORM,
    ),
    ("web.task_split", "POST"): page(
        lambda c: form(
            f"/tasks/{c.task()}/split",
            {"version": "1", "unit_ids": str(c.unit(SMX_COUNTIES["yima"])), "reason": "涉及义马市"},
        ),
        SUPERVISOR_FORM,
    ),
    ("web.plan_acknowledge", "POST"): page(
        lambda c: (c.fresh_assignment() and "/plans/1/acknowledge", {"data": {}}),
        answers("302!", own="302+", head="302+", sibling="302+", other_city="404"),
    ),
    ("web.task_upload", "POST"): page(
        lambda c: form(f"/tasks/{c.task()}/evidence", {"file": (io.BytesIO(PNG), "现场.png")}), RESPONSIBLE_FORM
    ),
    ("web.task_urge", "POST"): page(lambda c: form("/tasks/urge", {"task_id": str(c.task())}), SUPERVISOR_FORM),
    # a selection: the page lists each task's result, a refused one (not found, or not
    # the supervising side) changes nothing
    ("web.task_bulk", "POST"): page(
        lambda c: form("/tasks/bulk", {"action": "urge", "task_id": str(c.task())}), answers("200!", issuer="200+")
    ),
    ("web.evidence_file", "GET"): page(lambda c: (f"/evidence/{c.evidence()}", {}), SEES_LUSHI),
    ("web.task_extension", "POST"): page(
        lambda c: form(f"/tasks/{c.task()}/extensions", {"deadline": "9月30日", "reason": "雨季施工困难"}),
        RESPONSIBLE_FORM,
    ),
    ("web.extension_decision", "POST"): page(
        lambda c: form(f"/extensions/{c.extension()}/decision", {"approve": "1", "comment": "同意", "task_id": "0"}),
        SUPERVISOR_FORM,
    ),
    # ---- pages: reports --------------------------------------------------------------------------
    ("web.submission_list", "GET"): page("/submissions", EVERYONE),
    ("web.submission_page", "GET"): page(  # a reminder's link: to the report's row on the reports list
        lambda c: (f"/submissions/{c.submission()}", {}), answers("302", sibling="404", other_city="404")
    ),
    ("web.submission_file", "GET"): page(lambda c: (f"/submissions/{c.report_file()}/file", {}), SEES_LUSHI),
    ("web.submission_submit", "POST"): page(
        lambda c: form(f"/submissions/{c.submission()}/submit", {"note": "已报", "version": "1"}), RESPONSIBLE_FORM
    ),
    ("web.submission_review", "POST"): page(
        lambda c: form(f"/submissions/{c.submission(submitted=True)}/review", {"accept": "1", "version": "2"}),
        SUPERVISOR_FORM,
    ),
    # ---- pages: drafted documents ------------------------------------------------------------------
    ("web.draft_report", "GET"): page("/plans/1/report.docx", SEES_PLAN),
    ("web.draft_notice", "GET"): page("/plans/1/notice-draft.docx", NOTICE_DRAFT),
    ("web.submission_draft", "GET"): page(lambda c: (f"/submissions/{c.submission()}/draft.docx", {}), SEES_LUSHI),
    ("web.submission_changes", "GET"): page(
        lambda c: (f"/submissions/{c.ledger_submission()}/changes", {}), SEES_LUSHI
    ),
    ("web.report_templates", "GET"): page("/report-templates", EVERYONE),
    ("web.report_template_file", "GET"): page("/report-templates/report.docx", EVERYONE),
    ("web.report_template_upload", "POST"): page(
        lambda c: form("/report-templates/report/upload", {"file": (io.BytesIO(default_template("report")), "t.docx")}),
        answers("302+", viewer="403", admin="403"),
    ),
}


def _routes(app) -> set[tuple[str, str]]:
    return {(r.endpoint, m) for r in app.url_map.iter_rules() for m in r.methods - {"HEAD", "OPTIONS"}}


@pytest.mark.parametrize("backend", ["sqlite"])
def test_every_route_and_method_of_the_app_is_in_the_matrix(app):
    routes = _routes(app)
    assert sorted(routes - MATRIX.keys()) == [], "a route the matrix does not cover: add its row"
    assert sorted(MATRIX.keys() - routes) == [], "a matrix row for a route that no longer exists"


# ---- running one row ------------------------------------------------------------------------------
class Writes:
    """Counts transactions that committed a changed row, whatever code path wrote it."""

    def __init__(self, engine) -> None:
        self.engine, self.committed = engine, 0
        event.listen(engine, "after_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "rollback", self._rollback)

    def _statement(self, conn, cursor, statement, params, context, executemany) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb == "INSERT" or (verb in ("UPDATE", "DELETE") and cursor.rowcount > 0):
            conn.info["wrote"] = True

    def _commit(self, conn) -> None:
        if conn.info.pop("wrote", False):
            self.committed += 1

    def _rollback(self, conn) -> None:
        conn.info.pop("wrote", None)

    def remove(self) -> None:
        event.remove(self.engine, "after_cursor_execute", self._statement)
        event.remove(self.engine, "commit", self._commit)
        event.remove(self.engine, "rollback", self._rollback)


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def _send(ctx: Ctx, case: Case, rel: str, method: str):
    path, kw = case.request(ctx)
    if case.page:
        b = ctx.browser(rel)
        if method == "POST":
            return b.post(path, kw.get("data", {}))
        return b.client.open(path, method=method)
    if ACTORS[rel] is None:
        return ctx.api.client.open("/api/v1" + path, method=method, **kw)
    return ctx.api.call(method, path, ACTORS[rel], **kw)


@pytest.mark.parametrize("endpoint, method", sorted(MATRIX), ids=[f"{e}:{m}" for e, m in sorted(MATRIX)])
def test_the_permission_matrix(app, api, clock, endpoint, method):
    case = MATRIX[(endpoint, method)]
    ctx = Ctx(app, api, clock)
    if case.before:
        case.before(ctx)
    expected = case.answers()
    instance = app.extensions["rectify"].config.INSTANCE_DIR
    order = sorted(expected, key=lambda rel: expected[rel].endswith("+"))  # refusals first
    writes = Writes(app.extensions["rectify"].db.engine)
    try:
        for rel in order:
            answer = expected[rel]
            code, refused, must_write = int(answer[:3]), answer[3:] == "!" or int(answer[:3]) >= 400, answer[3:] == "+"
            case.request(ctx)  # make the record (if any) before counting what this request writes
            if case.page:
                ctx.browser(rel)  # and sign in (a session row) before it too
            before_writes, before_files = writes.committed, _files(instance)
            r = _send(ctx, case, rel, method)
            wrote = writes.committed > before_writes
            assert r.status_code == code, (
                f"{endpoint} {method} as {rel}: {r.status_code}, expected {code}: {r.get_data(as_text=True)[:300]}"
            )
            if refused:
                assert not wrote, f"{endpoint} {method} as {rel} was refused but committed a write"
                assert _files(instance) == before_files, f"{endpoint} {method} as {rel} was refused but left a file"
            if must_write:
                assert wrote, f"{endpoint} {method} as {rel} succeeded without writing: the row proves nothing"
            if wrote:
                ctx.cache.clear()  # the next actor gets a fresh record
        if case.after:
            case.after(ctx)
    finally:
        writes.remove()


def test_every_other_method_on_every_route_is_405_and_changes_nothing(app, api):
    """The matrix covers the methods each route takes; any other is refused by the router."""
    adapter = app.url_map.bind("localhost")
    admin = Browser(app, "admin")
    writes = Writes(app.extensions["rectify"].db.engine)
    tried = 0
    try:
        for rule in app.url_map.iter_rules():
            values = {arg: "app.css" if arg == "filename" else 1 for arg in rule.arguments}
            path = adapter.build(rule.endpoint, values | ({"fmt": "xlsx"} if "fmt" in values else {}))
            allowed = {m for r in app.url_map.iter_rules() if r.rule == rule.rule for m in r.methods}
            for method in {"GET", "POST", "PUT", "PATCH", "DELETE"} - allowed:
                if path.startswith("/api/"):
                    r = api.call(method, path.removeprefix("/api/v1"), "admin")
                else:
                    r = admin.client.open(path, method=method)
                assert r.status_code == 405, (method, path, r.status_code)
                tried += 1
        assert writes.committed == 0
    finally:
        writes.remove()
    assert tried > 100
