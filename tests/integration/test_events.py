"""Every workflow event reaches exactly the people waiting on it, once, on each channel they
chose: a real aiosmtpd server and a real webhook receiver count what arrived, by outbox key.

Each test starts from the "silent" demo copy (every demo task fixed on the demo morning) and
works one new Sanmenxia problem assigned to 卢氏县 through the API, on Wed 2022-06-08 from
10:00 China time (inside the send window), as the people of the README would.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections import Counter
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from app import jobs
from app.domain.events import EVENT_KINDS
from app.models import Notification
from app.services import delivery
from tests.integration import reminder_fixtures as fixtures
from tests.integration.reminder_fixtures import PNG, SUPERVISORS, Harness, china, email_of
from tests.integration.test_exactly_once import run_together
from tests.integration.test_ledger_io import imported
from tests.integration.test_pages import _csrf, login

mail, hooks, app, api, harness = fixtures.mail, fixtures.hooks, fixtures.app, fixtures.api, fixtures.harness
db_url = fixtures.quiet_db_url("silent")

START = china(2022, 6, 8, 10, 0)  # Wed, in the window
LUSHI = ("lushi_head", "lushi_deputy", "lushi_handler")
_EVENT_KEY = re.compile(
    r"^(?P<type>task|submission|plan):(?P<id>\d+):(?P<ref>\d+):event:(?P<kind>\w+):(?P<channel>[a-z]+)"
)


def event_of(key: str) -> tuple[str, int, int, str]:
    """(item type, item id, occurrence, event kind) of an event message's outbox key."""
    m = _EVENT_KEY.match(key)
    assert m, f"not an event key: {key!r}"
    return m["type"], int(m["id"]), int(m["ref"]), m["kind"]


class Office:
    """The people of the README acting through the API on one task, with the clock moving a minute a step."""

    def __init__(self, api, h: Harness) -> None:
        self.api, self.h = api, h
        self.users = {r.username: r.id for r in h.sql("SELECT id, username FROM users")}
        self.h.clock.now = START
        self.lushi_unit = api.get("/me", "lushi_handler").get_json()["unit_id"]
        self.task_id: int | None = None
        h.first_row = (h.sql("SELECT max(id) AS n FROM notifications")[0].n or 0) + 1  # before: the demo's own

    def tick(self) -> None:
        self.h.clock.advance(minutes=1)

    def version(self) -> int:
        return self.api.get(f"/tasks/{self.task_id}", "lushi_handler").get_json()["version"]

    def assign(self, title: str = "农房安全隐患排查不彻底") -> int:
        r = self.api.post(
            "/plans/1/problems",
            "smx_deputy",
            json={
                "category": "工作落实方面",
                "nature": "individual",
                "title": title,
                "measures": "逐户复核",
                "deadline": "6月30日",
                "unit_ids": [self.lushi_unit],
            },
        )
        assert r.status_code == 201, r.get_json()
        self.task_id = self.h.sql("SELECT id FROM tasks WHERE problem_id = :p", p=r.get_json()["id"])[0].id
        self.tick()
        return self.task_id

    def move(self, to: str, who: str, comment: str = "", status: int = 200) -> dict:
        r = self.api.post(
            f"/tasks/{self.task_id}/transitions", who, json={"to": to, "comment": comment, "version": self.version()}
        )
        assert r.status_code == status, r.get_json()
        self.tick()
        return r.get_json()

    def rectify(self, who: str = "lushi_handler") -> None:
        if self.api.get(f"/tasks/{self.task_id}", who).get_json()["state"] == "identified":
            self.move("in_progress", who)
        files = {"file": (io.BytesIO(PNG), "现场照片.png")}
        r = self.api.post(f"/tasks/{self.task_id}/evidence", who, data=files, content_type="multipart/form-data")
        assert r.status_code == 201, r.get_json()
        self.move("rectified", who, "已逐户复核并拍照")

    def urge(self, who: str = "smx_deputy", status: int = 200, ids: list[int] | None = None) -> dict:
        r = self.api.post("/urges", who, json={"task_ids": ids or [self.task_id], "comment": "请本周内完成"})
        assert r.status_code == status, r.get_json()
        self.tick()
        return r.get_json()

    def set(self, who: str, **prefs) -> None:
        r = self.api.call("PUT", "/me/preferences", who, json=prefs)
        assert r.status_code == 200, r.get_json()


@pytest.fixture
def office(api, harness) -> Office:
    return Office(api, harness)


def inbox_of(h: Harness, kind: str | None = None) -> Counter:
    """(event kind, username) of every event message in someone's inbox."""
    rows = h.sql(
        "SELECT n.step, u.username FROM notifications n JOIN users u ON u.id = n.recipient_id "
        "WHERE n.kind = 'event' AND n.channel = 'inbox' AND n.status = 'sent' AND n.id >= :first",
        first=h.first_row,
    )
    found = Counter((r.step.removeprefix("event:"), r.username) for r in rows)
    return Counter({k: n for k, n in found.items() if kind is None or k[0] == kind})


def mails_of(h: Harness, kind: str | None = None) -> Counter:
    """(event kind, address) of every event e-mail the server accepted."""
    found = Counter((event_of(m.key)[3], m.rcpt) for m in h.mail.received if fixtures.is_event(m.key))
    return Counter({k: n for k, n in found.items() if kind is None or k[0] == kind})


def hooks_of(h: Harness) -> Counter:
    return Counter(event_of(x.key)[3] for x in h.hooks.received if fixtures.is_event(x.key))


def inbox_message(h: Harness, kind: str, username: str):
    """The (subject, body) row of the one ``kind`` message in ``username``'s inbox."""
    [row] = h.sql(
        "SELECT n.subject, n.body FROM notifications n JOIN users u ON u.id = n.recipient_id "
        "WHERE n.step = :step AND n.channel = 'inbox' AND u.username = :who",
        step=f"event:{kind}",
        who=username,
    )
    return row


def assigned_hearing(o: Office, kind: str) -> int:
    """Lushi's deputy hears nothing of ``kind``, its head only in the inbox; a problem is
    assigned to Lushi. Returns the problem's id."""
    o.set("lushi_deputy", events={kind: "off"})
    o.set("lushi_head", events={kind: "inbox"})
    o.assign()
    return o.api.get(f"/tasks/{o.task_id}", "smx_deputy").get_json()["problem_id"]


def each(kind: str, people) -> Counter:
    return Counter({(kind, who): 1 for who in people})


def twice(c: Counter) -> Counter:
    return c + c


def by_mail(expected: Counter) -> Counter:
    return Counter({(kind, email_of(who)): n for (kind, who), n in expected.items()})


# --- the whole round, once each ----------------------------------------------------------------------------


def test_each_workflow_event_reaches_exactly_the_people_waiting_on_it_once_on_every_channel(harness, office, api):
    h, o = harness, office
    o.assign()
    o.rectify()
    o.move("in_progress", "smx_deputy", "照片看不出改造后的房屋")  # sent back
    o.rectify()
    o.move("verified", "smx_head")
    o.move("closed", "smx_head")
    o.move("in_progress", "smx_deputy", "回头看发现问题反弹")  # reopened
    r = api.post(f"/tasks/{o.task_id}/extensions", "lushi_deputy", json={"deadline": "7月31日", "reason": "雨季"})
    assert r.status_code == 201, r.get_json()
    o.tick()
    r = api.post(f"/extensions/{r.get_json()['id']}/decision", "smx_head", json={"approve": True, "comment": "同意"})
    assert r.status_code == 200, r.get_json()
    o.tick()
    o.urge()
    # a report owed by Lushi: submitted, returned, submitted again, accepted
    r = api.post(
        "/plans/1/obligations",
        "smx_deputy",
        json={"title": "整改情况报告", "schedule": "6月20日前", "unit_ids": [o.lushi_unit]},
    )
    assert r.status_code == 201, r.get_json()
    sub = api.get("/plans/1/submissions", "lushi_handler").get_json()[-1]
    for who, step in (
        ("lushi_handler", "submit"),
        ("smx_head", "return"),
        ("lushi_handler", "submit"),
        ("smx_deputy", "accept"),
    ):
        version = next(x for x in api.get("/plans/1/submissions", who).get_json() if x["id"] == sub["id"])["version"]
        if step == "submit":
            r = api.post(f"/submissions/{sub['id']}/submit", who, data={"note": "见附件", "version": str(version)})
        else:
            accept = step == "accept"
            body = {"accept": accept, "comment": "" if accept else "缺少照片", "version": version}
            r = api.post(f"/submissions/{sub['id']}/review", who, json=body)
        assert r.status_code == 200, r.get_json()
        o.tick()

    expected = (
        each("assigned", ["lushi_handler"])
        + twice(each("rectified", SUPERVISORS))
        + each("rejected", ["lushi_handler"])
        + each("verified", LUSHI)
        + each("closed", LUSHI)
        + each("reopened", LUSHI)
        + each("extension_requested", SUPERVISORS)
        + each("extension_decided", ["lushi_deputy"])
        + each("urged", LUSHI)
        + twice(each("report_submitted", SUPERVISORS))
        + each("report_returned", LUSHI)
        + each("report_accepted", LUSHI)
    )
    assert inbox_of(h) == expected

    h.deliver()
    assert mails_of(h) == by_mail(expected)
    assert hooks_of(h) == Counter(assigned=1, rectified=2, rejected=1, verified=1, closed=1, reopened=1) + Counter(
        extension_requested=1, extension_decided=1, urged=1, report_submitted=2, report_returned=1, report_accepted=1
    )  # one webhook call per event
    assert all(x.signed for x in h.hooks.received)
    outbound = h.rows(Notification.kind == "event", Notification.channel != "inbox", events=True)
    assert {r.status for r in outbound} == {"sent"}

    # beats, sweeps and deliveries that follow add nothing
    rows, mails, calls = len(h.rows(events=True)), len(h.mail.received), len(h.hooks.received)
    for minutes in (1, 1, 2):
        h.sweep(h.clock.now + timedelta(minutes=minutes))
    assert (len(h.rows(Notification.kind == "event", events=True)), len(h.mail.received), len(h.hooks.received)) == (
        len(h.rows(Notification.kind == "event", events=True)),
        mails,
        calls,
    )
    assert len(h.rows(events=True)) == rows
    assert h.mail.duplicates() == {}


def test_every_event_message_links_to_the_page_where_its_reader_acts(harness, office, api):
    h, o = harness, office
    o.assign()
    o.rectify()
    r = api.post("/plans/1/obligations", "smx_deputy", json={"title": "整改情况报告", "schedule": "6月20日前"})
    sub = next(x for x in api.get("/plans/1/submissions", "lushi_handler").get_json() if x["unit_id"] == o.lushi_unit)
    r = api.post(f"/submissions/{sub['id']}/submit", "lushi_handler", data={"note": "见附件", "version": "1"})
    assert r.status_code == 200, r.get_json()
    h.deliver()
    rows = h.rows(Notification.kind == "event", Notification.channel == "email", events=True)
    links = {r.step: r.data["url"] for r in rows}
    assert links == {
        "event:assigned": f"/tasks/{o.task_id}",  # the handler starts it there
        "event:rectified": f"/tasks/{o.task_id}",  # the supervisor verifies or sends it back there
        "event:report_submitted": "/submissions?plan_id=1",  # the supervisor accepts or returns it there
    }
    for m in h.mail.received:
        row = next(r for r in rows if r.key == m.key)
        assert f"http://127.0.0.1:5000{row.data['url']}" in row.body
    news = next(n for n in api.get("/inbox", "smx_head").get_json()["items"] if n["subject"].startswith("【待核实】"))
    assert "卢氏县" in news["subject"] and "农房安全隐患排查不彻底" in news["subject"]


def test_nobody_is_told_of_their_own_step(harness, office, api):
    h, o = harness, office
    r = api.post(
        "/plans/1/problems",
        "lushi_handler",  # a problem Lushi found itself (自查) and reports for itself
        json={
            "category": "工作落实方面",
            "nature": "individual",
            "title": "自查发现档案缺失",
            "measures": "补齐",
            "deadline": "6月30日",
            "unit_ids": [o.lushi_unit],
        },
    )
    assert r.status_code == 201, r.get_json()
    assert inbox_of(h, "assigned") == Counter()  # Lushi's only handler reported it


# --- each person's choice --------------------------------------------------------------------------------


def test_a_kind_switched_off_brings_nothing_and_inbox_only_brings_no_mail(harness, office):
    h, o = harness, office
    o.set("lushi_handler", events={"rejected": "off"})
    o.set("smx_head", events={"rectified": "inbox"})
    o.assign()
    o.rectify()
    o.move("in_progress", "smx_deputy", "照片看不出改造后的房屋")
    h.deliver()

    assert inbox_of(h, "rejected") == Counter()
    assert mails_of(h, "rejected") == Counter()
    assert hooks_of(h)["rejected"] == 1  # the platform behind the webhook still hears of it
    assert inbox_of(h, "rectified") == each("rectified", SUPERVISORS)
    assert mails_of(h, "rectified") == by_mail(each("rectified", ["smx_deputy", "smx_handler"]))
    assert mails_of(h, "assigned") == by_mail(each("assigned", ["lushi_handler"]))  # other kinds unchanged


def test_a_general_no_mail_setting_holds_for_every_kind_not_chosen_one_by_one(harness, office):
    h, o = harness, office
    o.set("smx_handler", notify_email=False, events={"rectified": "mail"})
    o.set("lushi_handler", notify_email=False)
    o.assign()
    o.rectify()
    h.deliver()
    assert mails_of(h, "assigned") == Counter()
    assert inbox_of(h, "assigned") == each("assigned", ["lushi_handler"])
    assert mails_of(h, "rectified") == by_mail(each("rectified", SUPERVISORS))


def test_mail_waits_for_the_send_window_unless_the_reader_asked_for_it_at_once(harness, office):
    h, o = harness, office
    o.set("smx_handler", events={"rectified": "instant"})
    o.assign()
    h.deliver()
    friday_night = china(2022, 6, 10, 20, 0)  # Fri 20:00; Mon 06-13 09:00 is the next window
    h.clock.now = friday_night
    o.rectify()

    assert inbox_of(h, "rectified") == each("rectified", SUPERVISORS)  # the inbox shows it at once
    h.deliver(friday_night + timedelta(minutes=5))
    assert mails_of(h, "rectified") == by_mail(each("rectified", ["smx_handler"]))
    waiting = h.rows(Notification.step == "event:rectified", Notification.status == "pending", events=True)
    assert {r.next_attempt_at for r in waiting} == {china(2022, 6, 13, 9, 0)}
    h.deliver(china(2022, 6, 12, 12, 0))  # Sunday
    assert len(mails_of(h, "rectified")) == 1
    h.deliver(china(2022, 6, 13, 9, 0))
    assert mails_of(h, "rectified") == by_mail(each("rectified", SUPERVISORS))


def test_the_daily_digest_folds_in_the_events_of_those_who_chose_it(harness, office):
    h, o = harness, office
    o.set("lushi_head", events={"verified": "digest", "closed": "digest"})
    o.assign()
    o.rectify()
    o.move("verified", "smx_head")
    o.move("closed", "smx_head")
    h.deliver()
    assert mails_of(h, "verified") == by_mail(each("verified", ["lushi_deputy", "lushi_handler"]))
    assert inbox_of(h, "verified") == each("verified", LUSHI)

    h.sweep(china(2022, 6, 9, 9, 0))  # the next morning's digest
    digests = [m for m in h.mail.received if m.key.startswith("digest:")]
    mine = [m for m in digests if m.rcpt == email_of("lushi_head")]
    assert len(mine) == 1 and "2条新动态" in mine[0].subject
    row = h.rows(Notification.key == mine[0].key)[0]
    assert [e["subject"][:5] for e in row.data["events"]] == ["【已核实】", "【已销号】"]
    assert {
        r.status
        for r in h.rows(
            Notification.step.in_(("event:verified", "event:closed")),
            Notification.recipient_id == o.users["lushi_head"],
            Notification.channel == "email",
            events=True,
        )
    } == {"folded"}
    h.sweep(china(2022, 6, 10, 9, 0))
    assert len([m for m in h.mail.received if m.rcpt == email_of("lushi_head") and m.key.startswith("digest:")]) == 1


def test_messages_are_written_in_each_readers_language(harness, office, api):
    h, o = harness, office
    o.set("smx_head", lang="en")
    o.assign()
    o.rectify()
    h.deliver()
    subjects = {m.rcpt: m.subject for m in h.mail.received if event_of(m.key)[3] == "rectified"}
    assert subjects[email_of("smx_head")].startswith("[Awaiting your check] ")
    assert subjects[email_of("smx_deputy")].startswith("【待核实】")
    inbox = api.get("/inbox", "smx_head").get_json()["items"]
    assert inbox[0]["subject"].startswith("[Awaiting your check] ")


def test_a_broken_template_is_logged_and_its_messages_are_listed_as_failed_not_sent_blank(
    harness, office, api, monkeypatch, caplog
):
    h, o = harness, office
    o.assign()
    from app.services import events

    def broken(kind, context, lang="zh", html=True):
        raise KeyError("actor_unit")

    monkeypatch.setattr(events, "render", broken)
    with caplog.at_level(logging.ERROR, logger="rectify.events"):
        o.rectify()
    assert api.get(f"/tasks/{o.task_id}", "smx_head").get_json()["state"] == "rectified"  # the step itself holds
    assert any("template" in rec.getMessage() for rec in caplog.records)
    failed = api.get("/admin/failed-notifications", "admin").get_json()
    mine = [f for f in failed if ":event:rectified:" in f["key"]]
    assert mine and {f["last_error"].split(":")[0] for f in mine} == {"template error"}
    inbox = api.get("/inbox", "smx_head").get_json()["items"]
    about_it = [n for n in inbox if n["kind"] == "event" and n["data"]["url"] == f"/tasks/{o.task_id}"]
    assert about_it == []  # not shown blank or half-worded
    h.deliver()
    assert mails_of(h, "rectified") == Counter()


# --- 催办 ----------------------------------------------------------------------------------------------------


def test_an_urge_is_recorded_delivered_and_refused_a_second_time_the_same_working_day(harness, office, api):
    h, o = harness, office
    o.assign()
    first = o.urge()
    assert first == {"urged": [o.task_id], "skipped": []}
    again = o.urge(status=409)
    assert "每个工作日只能催办一次" in again["message"]
    history = api.get(f"/tasks/{o.task_id}/history", "lushi_handler").get_json()
    assert [(e["kind"], e["comment"]) for e in history if e["kind"] == "urged"] == [("urged", "请本周内完成")]
    h.deliver()
    assert mails_of(h, "urged") == by_mail(each("urged", LUSHI))

    h.clock.now = china(2022, 6, 9, 9, 30)  # the next working day: allowed again
    o.urge()
    h.deliver()
    assert mails_of(h, "urged") == twice(by_mail(each("urged", LUSHI)))


def test_an_urge_on_saturday_counts_for_monday_and_goes_out_on_monday_morning(harness, office):
    h, o = harness, office
    o.assign()
    h.clock.now = china(2022, 6, 11, 10, 0)  # Saturday
    o.urge()
    h.deliver()
    assert mails_of(h, "urged") == Counter()
    h.clock.now = china(2022, 6, 13, 8, 30)
    assert "2022-06-13" in o.urge(status=409)["message"]
    h.deliver(china(2022, 6, 13, 9, 0))
    assert mails_of(h, "urged") == by_mail(each("urged", LUSHI))


def test_urging_a_selection_urges_what_may_be_urged_and_says_why_not_the_rest(harness, office, api):
    o = office
    first = o.assign("问题一")
    second = o.assign("问题二")
    o.urge(ids=[first])
    done = next(t for t in api.get("/tasks", "smx_head", query_string={"state": "rectified"}).get_json()["items"])
    result = o.urge(ids=[first, second, done["id"], 999999])
    assert result["urged"] == [second]
    reasons = {s["task_id"]: s["reason"] for s in result["skipped"]}
    assert set(reasons) == {first, done["id"], 999999}
    assert "只能催办一次" in reasons[first] and "无需催办" in reasons[done["id"]] and "不存在" in reasons[999999]
    assert "都不能催办" in o.urge(ids=[first, second], status=409)["message"]


def test_only_the_supervising_side_may_urge(harness, office):
    o = office
    o.assign()
    assert "督办人员" in o.urge(who="lushi_head", status=403)["message"]
    assert o.urge(who="hubin_head", status=404)["message"]  # another county does not see the task
    assert inbox_of(harness, "urged") == Counter()


# --- the reminders' fault tests, for events -------------------------------------------------------------------


def test_two_deliverers_racing_over_event_mail_send_each_once(harness, office):
    h, o = harness, office
    o.assign()
    o.rectify()
    o.move("verified", "smx_head")
    pending = h.rows(Notification.kind == "event", Notification.status == "pending", events=True)
    assert len(pending) > 5
    reports: list[delivery.DeliveryReport] = []

    def deliver(_i: int) -> None:
        with h.app.app_context():
            reports.append(jobs.deliver_due(h.rt))

    assert run_together(2, deliver) == []
    assert sum(r.sent for r in reports) == len(pending)
    assert not set(reports[0].ids) & set(reports[1].ids)
    assert h.mail.duplicates() == {}
    assert mails_of(h) == by_mail(
        each("assigned", ["lushi_handler"]) + each("rectified", SUPERVISORS) + each("verified", LUSHI)
    )


def test_two_sweeps_at_once_after_events_add_no_event_rows_and_send_each_once(harness, office):
    h, o = harness, office
    o.assign()
    o.rectify()
    written = len(h.rows(Notification.kind == "event", events=True))

    def tick(_i: int) -> None:
        with h.app.app_context():
            jobs.tick(h.rt, h.clock.now)

    assert run_together(2, tick) == []
    assert len(h.rows(Notification.kind == "event", events=True)) == written
    assert run_together(2, lambda _i: h.deliver()) == []
    assert h.mail.duplicates() == {}
    assert mails_of(h) == by_mail(each("assigned", ["lushi_handler"]) + each("rectified", SUPERVISORS))


def test_event_mail_left_sending_by_a_killed_worker_goes_out_once_after_its_lease(harness, office):
    h, o = harness, office
    o.assign()
    o.rectify()
    with h.app.app_context():
        grabbed = delivery.claim(h.rt.db, h.clock.now, "killed-worker", 500).ids
    rows = h.rows(Notification.id.in_(grabbed), events=True)
    assert rows and {r.kind for r in rows} == {"event"}
    lease_end = rows[0].lease_until
    assert h.deliver(lease_end - timedelta(seconds=1)).claimed == 0
    assert h.mail.received == []
    again = h.deliver(lease_end + timedelta(seconds=1))
    assert again.sent == len(rows)
    assert h.deliver(lease_end + timedelta(minutes=10)).claimed == 0
    assert mails_of(h) == by_mail(each("assigned", ["lushi_handler"]) + each("rectified", SUPERVISORS))


def test_a_step_that_fails_after_writing_its_event_rows_leaves_none_behind(harness, office, monkeypatch):
    h, o = harness, office
    o.assign()
    from app.services import events

    real = events.insert_ignoring_duplicates

    def insert_then_crash(s, rows):
        real(s, rows)
        raise RuntimeError("killed after the outbox insert")

    monkeypatch.setattr(events, "insert_ignoring_duplicates", insert_then_crash)
    o.move("in_progress", "lushi_handler")
    with pytest.raises(RuntimeError, match="killed"):
        o.rectify()
    assert inbox_of(h, "rectified") == Counter()
    assert h.sql("SELECT state FROM tasks WHERE id = :t", t=o.task_id)[0].state == "in_progress"
    monkeypatch.setattr(events, "insert_ignoring_duplicates", real)
    o.move("rectified", "lushi_handler", "已逐户复核并拍照")
    h.deliver()
    assert mails_of(h, "rectified") == by_mail(each("rectified", SUPERVISORS))


# --- the pages ---------------------------------------------------------------------------------------------


def _page(client, path: str) -> str:
    r = client.get(path)
    assert r.status_code == 200, path
    return r.get_data(as_text=True)


def test_the_preferences_page_keeps_each_kinds_choice_and_the_language_of_messages(harness, office, api):
    client = harness.app.test_client()
    assert login(client, "lushi_handler").status_code == 302
    page = _page(client, "/account/preferences")
    assert page.count('<select name="event_') == len(EVENT_KINDS)
    form = {f"event_{k}": "mail" for k in EVENT_KINDS} | {"event_rejected": "off", "event_urged": "instant"}
    form |= {"csrf_token": _csrf(page), "notify_email": "1", "lang": "en"}
    r = client.post("/account/preferences", data=form, follow_redirects=True)
    assert r.status_code == 200 and "消息设置已保存" in r.get_data(as_text=True)
    prefs = api.get("/me/preferences", "lushi_handler").get_json()
    assert prefs["lang"] == "en" and prefs["digest"] is False
    assert prefs["events"] == dict.fromkeys(EVENT_KINDS, "mail") | {"rejected": "off", "urged": "instant"}
    assert '<option value="off" selected>' in _page(client, "/account/preferences")

    bad = client.post("/account/preferences", data=form | {"event_urged": "pigeon"}, follow_redirects=True)
    assert "表单内容有误" in bad.get_data(as_text=True)
    assert api.get("/me/preferences", "lushi_handler").get_json()["events"]["urged"] == "instant"


def test_a_supervisor_urges_the_ticked_tasks_from_the_list_and_a_second_time_is_refused(harness, office, api):
    h, o = harness, office
    first, second = o.assign("问题一"), o.assign("问题二")
    client = h.app.test_client()
    login(client, "smx_deputy")
    page = _page(client, f"/tasks?unit_id={o.lushi_unit}&state=identified")
    assert f'name="task_id" value="{first}"' in page and f'name="task_id" value="{second}"' in page
    form = {"csrf_token": _csrf(page), "task_id": [str(first), str(second)], "comment": "本周内完成"}
    done = client.post("/tasks/urge", data=form, follow_redirects=True).get_data(as_text=True)
    assert "已催办 2 项任务" in done
    again = client.post("/tasks/urge", data=form, follow_redirects=True).get_data(as_text=True)
    assert "每个工作日只能催办一次" in again
    assert inbox_of(h, "urged") == twice(each("urged", LUSHI))

    unit = h.app.test_client()
    login(unit, "lushi_handler")
    assert 'id="urge"' not in _page(unit, f"/tasks/{first}")  # the unit cannot urge itself
    assert 'value="urge"' not in _page(unit, "/tasks")  # its list offers no urge (export only)
    inbox = _page(unit, "/inbox")
    assert f'<a href="/tasks/{first}">【催办】问题一' in inbox
    history = _page(client, f"/tasks/{first}")
    assert 'id="urge"' in history and "本周内完成" in history


def test_a_ledger_import_tells_each_unit_once_how_many_tasks_it_got(harness, office, api):
    h = harness
    plan = api.post("/plans", "smx_deputy", json={"title": "台账导入", "issued_on": "2022-06-07"}).get_json()
    data = (Path(__file__).parents[1] / "fixtures" / "ledgers" / "sanmenxia.xlsx").read_bytes()
    preview = api.post(
        f"/plans/{plan['id']}/ledger/preview", "smx_deputy", data={"file": (io.BytesIO(data), "台账.xlsx")}
    )
    assert preview.status_code == 200 and preview.get_json()["errors_count"] == 0, preview.get_json()
    imported(api, plan["id"], "smx_deputy", preview.get_json()["token"])

    tasks = api.get("/tasks", "smx_head", query_string={"plan_id": plan["id"], "per_page": 200}).get_json()["items"]
    per_unit = Counter(t["unit_name"] for t in tasks)
    assert max(per_unit.values()) > 1
    rows = h.sql(
        "SELECT n.subject, n.data, u.username FROM notifications n JOIN users u ON u.id = n.recipient_id "
        "WHERE n.step = 'event:assigned' AND n.channel = 'inbox' AND n.plan_id = :p",
        p=plan["id"],
    )
    assert Counter(r.username for r in rows) == Counter({f"{c}_handler": 1 for c in fixtures.COUNTIES})
    for r in rows:
        unit = next(name for name in per_unit if r.subject.endswith(f"（{name}）"))
        if per_unit[unit] > 1:  # one message naming how many, linking to the unit's list in the plan
            assert r.subject == f"【整改交办】三门峡市住房和城乡建设局交办{per_unit[unit]}项整改任务（{unit}）"
    h.deliver()
    assert mails_of(h, "assigned") == by_mail(each("assigned", [f"{c}_handler" for c in fixtures.COUNTIES]))


class _WeComGroup(BaseHTTPRequestHandler):
    """A WeCom group robot that accepts every message and keeps its text, by the path's key."""

    received: ClassVar[list[tuple[str, str]]] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append((self.path.rsplit("=", 1)[-1], body["markdown"]["content"]))
        reply = b'{"errcode": 0, "errmsg": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


def test_each_units_group_robot_hears_once_of_each_event_for_its_people(harness, office, api):
    h, o = harness, office
    server = ThreadingHTTPServer(("127.0.0.1", 0), _WeComGroup)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _WeComGroup.received = []
    try:
        city = api.get("/me", "smx_deputy").get_json()["unit_id"]
        for unit, key in ((o.lushi_unit, "lushi"), (city, "city")):
            url = f"http://127.0.0.1:{server.server_port}/cgi-bin/webhook/send?key={key}"
            assert (
                api.call("PUT", f"/units/{unit}/robot", "admin", json={"kind": "wecom", "url": url}).status_code == 200
            )
        o.set("lushi_handler", events={"assigned": "off"})  # a person's choice; the group still hears
        o.assign()
        o.rectify()
        h.deliver()
        h.deliver()
    finally:
        server.shutdown()
        server.server_close()
    heard = Counter((key, text.split("\n", 1)[0]) for key, text in _WeComGroup.received)
    assert sorted(heard.values()) == [1, 1]
    assert {key for key, _ in heard} == {"lushi", "city"}
    assert any(k == "lushi" and "整改交办" in line for k, line in heard)
    assert any(k == "city" and "待核实" in line for k, line in heard)


# --- 撤销 ----------------------------------------------------------------------------------------------------


def test_a_withdrawal_reaches_the_units_people_with_the_reason_in_the_same_step_as_each_chose(harness, office, api):
    h, o = harness, office
    problem = assigned_hearing(o, "withdrawn")
    refused = api.post(f"/problems/{problem}/withdraw", "smx_deputy", json={"reason": ""})
    assert refused.status_code == 422 and inbox_of(h, "withdrawn") == Counter(), "a refused step tells nobody"

    r = api.post(f"/problems/{problem}/withdraw", "smx_deputy", json={"reason": "交办单位有误，改由市局直接整改"})
    assert r.status_code == 200, r.get_json()
    o.tick()
    assert inbox_of(h, "withdrawn") == each("withdrawn", ["lushi_head", "lushi_handler"])
    row = inbox_message(h, "withdrawn", "lushi_handler")
    assert "【任务撤销】农房安全隐患排查不彻底" in row.subject
    assert "撤销理由：交办单位有误，改由市局直接整改" in row.body and f"/tasks/{o.task_id}" in row.body

    # one task of a problem, withdrawn from its own page's move, is news too
    o.assign("危房鉴定报告缺失")
    o.move("withdrawn", "smx_deputy", "与第3项重复")
    assert inbox_of(h, "withdrawn") == twice(each("withdrawn", ["lushi_head", "lushi_handler"]))
    h.deliver()
    assert mails_of(h, "withdrawn") == twice(by_mail(each("withdrawn", ["lushi_handler"])))  # the head chose inbox only
    assert hooks_of(h)["withdrawn"] == 2


# --- 整改时限修改 ------------------------------------------------------------------------------------------


def test_an_edited_deadline_reaches_the_units_people_with_the_old_and_the_new_one_as_each_chose(harness, office, api):
    h, o = harness, office
    pid = assigned_hearing(o, "deadline_changed")

    def edit(**changed) -> None:
        p = api.get(f"/problems/{pid}", "smx_deputy").get_json()
        body = {k: p[k] for k in ("title", "category", "nature", "description", "source", "measures", "remarks")}
        body |= {"deadline": p["deadline_text"], "unit_ids": [o.lushi_unit], "version": p["version"]} | changed
        r = api.call("PUT", f"/problems/{pid}", "smx_deputy", json=body)
        assert r.status_code == 200, r.get_json()
        o.tick()

    edit(deadline="7月15日")
    assert inbox_of(h, "deadline_changed") == each("deadline_changed", ["lushi_head", "lushi_handler"])
    row = inbox_message(h, "deadline_changed", "lushi_handler")
    assert "【整改时限调整】农房安全隐患排查不彻底" in row.subject
    assert "由「6月30日」改为「7月15日」" in row.body and "原整改时限：6月30日（2022年6月30日）" in row.body
    assert "整改时限：2022年7月15日" in row.body and f"/tasks/{o.task_id}" in row.body
    h.deliver()
    assert mails_of(h, "deadline_changed") == by_mail(each("deadline_changed", ["lushi_handler"]))

    # an edit that leaves the deadline as it was is no news of a deadline
    edit(measures="逐户复核，建立台账")
    assert inbox_of(h, "deadline_changed") == each("deadline_changed", ["lushi_head", "lushi_handler"])
