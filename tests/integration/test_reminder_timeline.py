"""The Sanmenxia timeline, swept at the instants the ladder gives, with a real mail server and webhook receiver.

The demo plan 三建〔2022〕187号 was issued on 2022-06-07 and its tasks were created at
DEMO_TIME (Wed 2022-06-08 09:00 China time). With the default policy (7, 3, 1 days ahead
and the morning of the day; level 1 on the working day after, level 2 after 3 working
days, level 3 after 5; a nag every 2nd working day; everything at 09:00 on working days)
and the real 2022 calendar (06-03 the Dragon Boat holiday, 07-31 a Sunday):

- 整改方案及台账, 6月10日前 (Fri), declared 06-08 10:00: 7d (06-03, holiday) and 3d (06-07) fall
  before it existed; remind:1d 06-09, remind:day 06-10, escalate:1 06-13, escalate:2 06-15,
  escalate:3 06-17, nag 06-21 (06-15 and 06-17 carry escalations), nag 06-23.
- #2 6月20日 / #5 6月20日前 / 整改情况报告 6月20日前 (Mon): 7d 06-13, 3d 06-17 (Fri), no 1d
  (Sunday defers onto the day itself), remind:day 06-20, escalate:1 06-21, escalate:2 06-23.
- #1 7月底前 (Sun 07-31): 7d 07-25 (Sun 07-24 deferred), 3d 07-28, remind:day on Fri 07-29
  (the day itself and 1d, Sat 07-30, would come after the deadline: the last window before
  it instead, once), escalate:1 08-01, escalate:2 08-03, escalate:3 08-05, nags 08-09, 08-11.
- Each escalation and nag reaches everyone the ladder has reached: level 1 handler and
  deputy, level 2 also the head, level 3 also the supervisors of the bureau.
- 立行立改: daily from the first working day after creation, 06-09, 06-10, 06-13, ...

Every sweep below asserts the exact set of e-mails the Sanmenxia items produced, by
(item, step, recipient) and each exactly once, and one signed webhook call per step.
The demo copy is the "timeline" quiet template: at 09:30 on 06-08 the units fixed every
task except #1, #2 and #5 and Lushi's 立行立改 items, so what is left is the story.

June sweeps (China time): 06-08 10:10, 06-09 08:30 (nothing), 06-09 09:00, 06-09 18:00
(nothing), 06-10 09:00, 06-11 Sat (nothing), 06-13 08:30 (nothing), 06-13, 06-14, 06-15,
06-16 (nothing), 06-17, 06-20, 06-21, 06-23 (nothing). July/August: 07-22, 07-25, 07-28,
07-29, 07-30 Sat, 08-01 08:30 (all nothing but 07-25 and 07-28), 08-01, 08-01 18:00, 08-02,
08-03, 08-04, 08-05, 08-06 Sat, 08-08, 08-09 (tick, rectify, deliver), 08-11.
"""

from __future__ import annotations

import io
import json
from datetime import datetime

import pytest

from app.models import Notification
from tests.integration import reminder_fixtures as fixtures
from tests.integration.reminder_fixtures import (
    COUNTIES,
    PNG,
    SUPERVISORS,
    Harness,
    Sanmenxia,
    Sweep,
    china,
    is_event,
)

# the shared fixtures, by name: real mail and webhook servers and an app wired to them
mail, hooks, app, api, harness = fixtures.mail, fixtures.hooks, fixtures.app, fixtures.api, fixtures.harness
# the demo, with every task fixed at 09:30 on 06-08 except problems #1, #2 and #5 everywhere and Lushi's 立行立改 items
db_url = fixtures.quiet_db_url("timeline")

R10 = "整改方案及台账"
R20 = "整改情况报告"
IMMEDIATE = (3, 4, 6, 7, 8)  # the common 立行立改 problems; #9 is Lushi's own
HANDLER_AND_DEPUTY = ("handler", "deputy")
LEVEL2 = (*HANDLER_AND_DEPUTY, "head")  # everyone the ladder has reached at level 2
LEVEL3 = LEVEL2  # level 3 per item: the unit's people; the bureau's supervisors get the day's 通报 list
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


# --- helpers ------------------------------------------------------------------------------------------------


def assert_sent_exactly(sweep: Sweep, smx: Sanmenxia, expected: set) -> None:
    """The Sanmenxia mails of this sweep are exactly ``expected``, each once, with one signed webhook per step."""
    got = sorted((*m.item, m.step, m.rcpt) for m in sweep.mails if m.item in smx.items)
    assert got == sorted(expected), f"sweep at {sweep.at.isoformat()}"
    calls = sorted((*hook.item, hook.step) for hook in sweep.hooks if hook.item in smx.items)
    assert calls == sorted({(kind, item_id, step) for kind, item_id, step, _ in expected})
    assert all(hook.signed and hook.idempotency_key == hook.key for hook in sweep.hooks)


def declare_reports(api, smx: Sanmenxia, h: Harness) -> None:
    for title, schedule in ((R10, "6月10日前"), (R20, "6月20日前")):
        r = api.post(f"/plans/{smx.plan_id}/obligations", "smx_deputy", json={"title": title, "schedule": schedule})
        assert r.status_code == 201, r.get_json()
        assert r.get_json()["kind"] == "once"
    smx.reload(h)


def submit_report(api, h: Harness, submission_id: int, username: str, at: datetime) -> None:
    h.clock.now = at
    mine = api.get(f"/plans/{h.smx.plan_id}/submissions", username).get_json()
    version = next(s["version"] for s in mine if s["id"] == submission_id)
    r = api.post(
        f"/submissions/{submission_id}/submit",
        username,
        data={"note": "按时报送", "version": str(version), "file": (io.BytesIO(PDF), "台账.pdf")},
    )
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["state"] == "submitted"


def rectify_over_api(api, h: Harness, task_id: int, username: str, at: datetime) -> dict:
    """Start, upload a PNG, rectify: what a handler does in the web app."""
    h.clock.now = at
    task = api.get(f"/tasks/{task_id}", username).get_json()
    r = api.post(f"/tasks/{task_id}/transitions", username, json={"to": "in_progress", "version": task["version"]})
    assert r.status_code == 200, r.get_json()
    up = api.post(f"/tasks/{task_id}/evidence", username, data={"file": (io.BytesIO(PNG), "现场照片.png")})
    assert up.status_code == 201, up.get_json()
    r = api.post(
        f"/tasks/{task_id}/transitions",
        username,
        json={"to": "rectified", "comment": "旧房已拆除，附现场照片", "version": r.get_json()["version"]},
    )
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def quiet_everything_but(h: Harness, keep: set[int], at: datetime) -> None:
    """Every other open task (both demo plans) is fixed by its unit's handler, so only ``keep`` is reminded."""
    rows = h.sql(
        "SELECT t.id, u.username FROM tasks t JOIN users u ON u.unit_id = t.unit_id AND u.position = 'handler' "
        "WHERE t.state IN ('identified', 'in_progress') ORDER BY t.id"
    )
    for row in rows:
        if row.id not in keep:
            h.rectify(row.id, row.username, at)


def schedule_of(h: Harness, kind: str, item_id: int):
    table = "tasks" if kind == "task" else "submissions"
    return h.sql(f"SELECT escalation_level, public_notice, next_action_at FROM {table} WHERE id = :i", i=item_id)[0]


def shown(api, task_id: int, username: str = "smx_deputy") -> tuple:
    """What GET /tasks/<id> says about the ladder: (escalation_level, public_notice, overdue, colour)."""
    task = api.get(f"/tasks/{task_id}", username).get_json()
    return task["escalation_level"], task["public_notice"], task["overdue"], task["colour"]


def inbox(api, username: str) -> list[dict]:
    r = api.get("/inbox", username)
    assert r.status_code == 200, r.get_json()
    return r.get_json()["items"]


def inbox_for(api, username: str, url: str) -> list[tuple[str, int, datetime, datetime]]:
    """(kind, level, created_at, step_at) of the user's inbox entries about one item, oldest first."""
    found = [
        (n["kind"], n["level"], datetime.fromisoformat(n["created_at"]), datetime.fromisoformat(n["data"]["step_at"]))
        for n in inbox(api, username)
        if n["data"].get("url") == url
    ]
    return sorted(found, key=lambda n: (n[2], n[3]))


def escalations(api, task_id: int) -> list[tuple[datetime, str]]:
    history = api.get(f"/tasks/{task_id}/history", "smx_deputy").get_json()
    return [(datetime.fromisoformat(e["at"]), e["comment"]) for e in history if e["kind"] == "escalation"]


@pytest.fixture
def smx(harness: Harness) -> Sanmenxia:
    harness.smx = Sanmenxia.load(harness)
    return harness.smx


# --- June: the two reports, the 6月20日 problems and Lushi's 立行立改 items --------------------------------------


def test_june_reports_and_deadlines_are_reminded_once_at_their_instants_to_their_people(harness, smx, api):
    h = harness
    h.clock.now = china(2022, 6, 8, 10, 0)
    declare_reports(api, smx, h)
    daily = [smx.task(seq, "lushi") for seq in (*IMMEDIATE, 9)]
    r10 = {c: smx.report(R10, c) for c in COUNTIES}
    r20 = [smx.report(R20, c) for c in COUNTIES]
    june20 = [smx.task(seq, c) for seq in (2, 5) for c in COUNTIES]
    late = [r10[c] for c in COUNTIES if c not in ("lushi", "hubin")]

    def sweep(at: datetime, expected: set) -> Sweep:
        done = h.sweep(at)
        assert_sent_exactly(done, smx, expected)
        return done

    sweep(china(2022, 6, 8, 10, 10), set())
    sweep(china(2022, 6, 9, 8, 30), set())  # before the window opens
    sweep(
        china(2022, 6, 9),
        smx.mails(r10.values(), "remind:1d", HANDLER_AND_DEPUTY)
        | smx.mails(daily, "daily:2022-06-09", HANDLER_AND_DEPUTY),
    )
    lushi_r10 = f"/submissions/{r10['lushi'][1]}"
    assert inbox_for(api, "lushi_handler", lushi_r10) == [("remind", 0, china(2022, 6, 9), china(2022, 6, 9))]
    assert inbox_for(api, "lushi_head", lushi_r10) == []

    submit_report(api, h, r10["lushi"][1], "lushi_handler", china(2022, 6, 9, 15, 0))
    sweep(china(2022, 6, 9, 18, 0), set())  # after the window: nothing new
    sweep(
        china(2022, 6, 10),
        smx.mails([r10[c] for c in COUNTIES if c != "lushi"], "remind:day", HANDLER_AND_DEPUTY)
        | smx.mails(daily, "daily:2022-06-10", HANDLER_AND_DEPUTY),
    )
    submit_report(api, h, r10["hubin"][1], "hubin_handler", china(2022, 6, 10, 10, 0))
    sweep(china(2022, 6, 11, 10, 0), set())  # Saturday
    sweep(china(2022, 6, 13, 8, 30), set())
    sweep(
        china(2022, 6, 13),
        smx.mails(late, "escalate:1", HANDLER_AND_DEPUTY)
        | smx.mails(june20, "remind:7d", HANDLER_AND_DEPUTY)
        | smx.mails(r20, "remind:7d", HANDLER_AND_DEPUTY)
        | smx.mails(daily, "daily:2022-06-13", HANDLER_AND_DEPUTY),
    )
    reports = {s["id"]: s for s in api.get(f"/plans/{smx.plan_id}/submissions", "smx_deputy").get_json()}
    assert {reports[r[1]]["escalation_level"] for r in late} == {1}
    assert reports[r10["lushi"][1]]["escalation_level"] == 0 and reports[r10["lushi"][1]]["state"] == "submitted"
    assert reports[r10["hubin"][1]]["escalation_level"] == 0

    sweep(china(2022, 6, 14), smx.mails(daily, "daily:2022-06-14", HANDLER_AND_DEPUTY))
    for _, task_id in daily:
        h.rectify(task_id, "lushi_handler", china(2022, 6, 14, 10, 0))
    assert all(schedule_of(h, "task", task_id).next_action_at is None for _, task_id in daily)

    sweep(china(2022, 6, 15), smx.mails(late, "escalate:2", LEVEL2))
    assert inbox_for(api, "shanzhou_head", f"/submissions/{r10['shanzhou'][1]}") == [
        ("escalate", 2, china(2022, 6, 15), china(2022, 6, 15))
    ]
    assert inbox_for(api, "hubin_head", f"/submissions/{r10['hubin'][1]}") == []
    sweep(china(2022, 6, 16), set())
    sweep(
        china(2022, 6, 17),
        smx.mails(late, "escalate:3", LEVEL3)
        | smx.notice_list("2022-06-17")
        | smx.mails(june20, "remind:3d", HANDLER_AND_DEPUTY)
        | smx.mails(r20, "remind:3d", HANDLER_AND_DEPUTY),
    )
    for who in SUPERVISORS:  # one message listing the five late reports, not one per report
        assert [n for n in inbox(api, who) if n["level"] == 3 and n["kind"] != "notice_list"] == []
        (listed,) = [n for n in inbox(api, who) if n["kind"] == "notice_list"]
        assert sorted(i["url"] for i in listed["data"]["items"]) == sorted(f"/submissions/{r[1]}" for r in late)
    assert all(tuple(schedule_of(h, *r)[:2]) == (3, True) for r in late)
    assert tuple(schedule_of(h, *r10["hubin"])[:2]) == (0, False)

    for county in COUNTIES:
        submit_report(api, h, smx.report(R20, county)[1], f"{county}_handler", china(2022, 6, 17, 10, 0))
    sweep(china(2022, 6, 20), smx.mails(june20, "remind:day", HANDLER_AND_DEPUTY) | smx.notice_list("2022-06-20"))
    for kind, task_id in june20:
        h.rectify(task_id, f"{smx.unit_of[(kind, task_id)]}_handler", china(2022, 6, 20, 10, 0))
    # the reports are still missing: nags to the units, the list to the bureau
    sweep(china(2022, 6, 21), smx.mails(late, "nag:2022-06-21", LEVEL3) | smx.notice_list("2022-06-21"))
    for kind, report_id in late:
        submit_report(api, h, report_id, f"{smx.unit_of[(kind, report_id)]}_handler", china(2022, 6, 21, 10, 0))
    sweep(china(2022, 6, 23), set())  # every report is in and every June item fixed: silence


# --- July and August: the 7月底 item climbs the ladder until it is rectified -----------------------------------


def test_the_july_end_item_escalates_level_by_level_on_working_days_until_it_is_rectified(harness, smx, api):
    h = harness
    july = [smx.task(1, c) for c in COUNTIES]
    quiet_everything_but(h, {task_id for _, task_id in july}, china(2022, 6, 8, 10, 0))
    hubin, lushi = smx.tasks[(1, "hubin")], smx.tasks[(1, "lushi")]

    def sweep(at: datetime, expected: set) -> Sweep:
        done = h.sweep(at)
        assert_sent_exactly(done, smx, expected)
        return done

    sweep(china(2022, 7, 22), set())
    sweep(china(2022, 7, 25), smx.mails(july, "remind:7d", HANDLER_AND_DEPUTY))  # Sun 07-24 deferred to Monday
    sweep(china(2022, 7, 28), smx.mails(july, "remind:3d", HANDLER_AND_DEPUTY))
    # the deadline is Sunday 07-31 and remind:1d Saturday: the last window before the deadline, once
    friday = sweep(china(2022, 7, 29), smx.mails(july, "remind:day", HANDLER_AND_DEPUTY))
    assert {m.subject for m in friday.mails if m.item == ("task", hubin)} == {
        "【整改提醒】农村危房改造建新未拆旧问题仍然存在（2天后到期）"
    }
    sweep(china(2022, 7, 30, 10, 0), set())
    sweep(china(2022, 8, 1, 8, 30), set())
    task = api.get(f"/tasks/{hubin}", "hubin_handler").get_json()
    assert task["state"] == "identified" and task["due_at"].startswith("2022-07-31T15:59:59")
    assert shown(api, hubin, "hubin_handler") == (0, False, True, "yellow")  # overdue, not yet escalated

    sweep(china(2022, 8, 1), smx.mails(july, "escalate:1", HANDLER_AND_DEPUTY))
    assert not h.rows(Notification.item_id == hubin, Notification.status == "folded")  # nothing was late
    assert shown(api, hubin) == (1, False, True, "yellow")
    assert escalations(api, hubin) == [(china(2022, 8, 1), "逾期督办升级至第1级")]
    assert inbox_for(api, "hubin_deputy", f"/tasks/{hubin}")[-1] == (
        "escalate",
        1,
        china(2022, 8, 1),
        china(2022, 8, 1),
    )

    sweep(china(2022, 8, 1, 18, 0), set())
    sweep(china(2022, 8, 2), set())
    sweep(china(2022, 8, 3), smx.mails(july, "escalate:2", LEVEL2))
    assert shown(api, hubin) == (2, False, True, "yellow")
    sweep(china(2022, 8, 4), set())
    sweep(china(2022, 8, 5), smx.mails(july, "escalate:3", LEVEL3) | smx.notice_list("2022-08-05"))
    assert {shown(api, task_id) for _, task_id in july} == {(3, True, True, "red")}  # on the 通报 list
    assert escalations(api, hubin) == [
        (china(2022, 8, 1), "逾期督办升级至第1级"),
        (china(2022, 8, 3), "逾期督办升级至第2级"),
        (china(2022, 8, 5), "逾期督办升级至第3级，列入通报名单"),
    ]
    sweep(china(2022, 8, 6, 10, 0), set())  # Saturday
    sweep(china(2022, 8, 8), smx.notice_list("2022-08-08"))  # every working day, also without a nag

    # 08-09: the sweep writes the nags; before delivery Lushi rectifies, so its unsent rows are cancelled
    mark, hook_mark = h.mail.mark(), h.hooks.mark()
    h.tick(china(2022, 8, 9))
    lushi_rows = h.rows(
        Notification.item_type == "task", Notification.item_id == lushi, Notification.step.like("nag:%")
    )
    assert {(r.channel, r.status) for r in lushi_rows} == {
        ("inbox", "sent"),
        ("email", "pending"),
        ("webhook", "pending"),
    }
    rectified = rectify_over_api(api, h, lushi, "lushi_handler", china(2022, 8, 9, 9, 10))
    assert rectified["state"] == "rectified" and rectified["overdue"] is False and rectified["colour"] is None
    lushi_rows = h.rows(
        Notification.item_type == "task", Notification.item_id == lushi, Notification.step.like("nag:%")
    )
    assert {(r.channel, r.status) for r in lushi_rows} == {
        ("inbox", "sent"),
        ("email", "cancelled"),
        ("webhook", "cancelled"),
    }
    h.deliver(china(2022, 8, 9, 9, 15))
    still_open = [t for t in july if t[1] != lushi]
    nag_day = Sweep(
        china(2022, 8, 9),
        [m for m in h.mail.since(mark) if not is_event(m.key)],  # the supervisors also hear Lushi rectified
        [x for x in h.hooks.since(hook_mark) if not is_event(x.key)],
    )
    assert_sent_exactly(nag_day, smx, smx.mails(still_open, "nag:2022-08-09", LEVEL3) | smx.notice_list("2022-08-09"))

    eleventh = sweep(
        china(2022, 8, 11), smx.mails(still_open, "nag:2022-08-11", LEVEL3) | smx.notice_list("2022-08-11")
    )
    assert {m.subject for m in eleventh.mails if m.item[0] == "notice_list"} == {
        "【通报名单】三门峡市住房和城乡建设局督办事项中6项已升级至三级督办"  # Lushi's is rectified
    }
    assert schedule_of(h, "task", lushi).next_action_at is None
    assert not h.rows(
        Notification.item_id == lushi, Notification.item_type == "task", Notification.step == "nag:2022-08-11"
    )


# --- an extension stops the old ladder and starts a new one --------------------------------------------------


def test_an_approved_extension_cancels_pending_reminders_resets_the_level_and_starts_a_new_ladder(harness, smx, api):
    h = harness
    task = smx.task(2, "mianchi")  # 6月20日
    task_id = task[1]
    quiet_everything_but(h, {task_id} | {smx.tasks[(1, c)] for c in COUNTIES}, china(2022, 6, 8, 10, 0))  # #1: July

    def sweep(at: datetime, expected: set) -> Sweep:
        done = h.sweep(at)
        assert_sent_exactly(done, smx, expected)
        return done

    sweep(china(2022, 6, 21), smx.mails([task], "escalate:1", HANDLER_AND_DEPUTY))
    sweep(china(2022, 6, 23), smx.mails([task], "escalate:2", LEVEL2))
    h.tick(china(2022, 6, 27))  # escalate:3 written, not yet delivered
    assert shown(api, task_id)[:2] == (3, True)
    pending = h.rows(
        Notification.item_id == task_id, Notification.item_type == "task", Notification.status == "pending"
    )
    assert sorted(r.channel for r in pending) == ["email"] * 3 + ["webhook"]  # the unit's three; the bureau: its list

    h.clock.now = china(2022, 6, 27, 9, 10)
    r = api.post(
        f"/tasks/{task_id}/extensions", "mianchi_handler", json={"deadline": "7月15日", "reason": "汛期施工受阻"}
    )
    assert r.status_code == 201, r.get_json()
    h.clock.now = approved_at = china(2022, 6, 27, 9, 20)
    r = api.post(f"/extensions/{r.get_json()['id']}/decision", "smx_deputy", json={"approve": True, "comment": "同意"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["state"] == "approved"

    assert {r.status for r in h.rows(Notification.id.in_([p.id for p in pending]))} == {"cancelled"}
    assert shown(api, task_id, "mianchi_handler") == (0, False, False, None)
    assert h.ladder_disagreements() == []  # the extension reset level and 通报 flag together
    assert api.get(f"/tasks/{task_id}", "mianchi_handler").get_json()["due_at"].startswith("2022-07-15T15:59:59")
    mark = h.mail.mark()
    h.deliver(china(2022, 6, 27, 9, 25))
    reminders = {m.item[0] for m in h.mail.since(mark) if not is_event(m.key)}  # besides the extension's news
    assert reminders == {"notice_list"}  # only the bureau's list of 09:00, as written
    assert not [m for m in h.mail.received if m.item == task and m.step == "escalate:3"]

    # the new ladder for Fri 07-15, from the approval: 7d 07-08, 3d 07-12, 1d 07-14, day 07-15, escalate:1 Mon 07-18
    sweep(china(2022, 6, 29), set())  # where the old ladder's nag would have been
    sweep(china(2022, 7, 7), set())
    new_7d = sweep(china(2022, 7, 8), smx.mails([task], "remind:7d", HANDLER_AND_DEPUTY))
    assert {m.epoch for m in new_7d.mails} == {int(approved_at.timestamp())}  # a new message, not the old 7d again
    sweep(china(2022, 7, 12), smx.mails([task], "remind:3d", HANDLER_AND_DEPUTY))
    sweep(china(2022, 7, 14), smx.mails([task], "remind:1d", HANDLER_AND_DEPUTY))
    sweep(china(2022, 7, 15), smx.mails([task], "remind:day", HANDLER_AND_DEPUTY))
    sweep(china(2022, 7, 18), smx.mails([task], "escalate:1", HANDLER_AND_DEPUTY))
    assert shown(api, task_id) == (1, False, True, "yellow")
    assert escalations(api, task_id) == [
        (china(2022, 6, 21), "逾期督办升级至第1级"),
        (china(2022, 6, 23), "逾期督办升级至第2级"),
        (china(2022, 6, 27), "逾期督办升级至第3级，列入通报名单"),
        (china(2022, 7, 18), "逾期督办升级至第1级"),
    ]
    assert h.ladder_disagreements() == []  # after every sweep of the second ladder too


# --- the sweep command ----------------------------------------------------------------------------------------


def test_flask_sweep_at_an_instant_prints_what_it_did_and_sends_the_june_9_reminders(harness, smx, app):
    h = harness
    h.clock.now = china(2022, 6, 9)  # what the webhook receiver believes "now" is
    result = app.test_cli_runner().invoke(args=["sweep", "--at", "2022-06-09T09:00+08:00"])
    assert result.exit_code == 0, result.output
    immediate = [smx.task(seq, "lushi") for seq in (*IMMEDIATE, 9)]  # the other counties' were fixed on 06-08
    expected = smx.mails(immediate, "daily:2022-06-09", HANDLER_AND_DEPUTY)
    assert_sent_exactly(Sweep(china(2022, 6, 9), h.mail.received, h.hooks.received), smx, expected)
    lines = result.output.splitlines()
    for _, task_id in immediate:
        assert f"task {task_id} daily:2022-06-09 at 2022-06-09T01:00:00+00:00 → ('handler', 'deputy')" in lines
    assert any(line.startswith("swept ") and "0 escalation steps" in line for line in lines)
    sent = len(h.mail.received) + len(h.hooks.received)
    assert lines[-1] == f"delivered: {sent} sent, 0 to retry, 0 failed"


@pytest.mark.parametrize(
    ("at", "message"),
    [("2022-06-31T09:00+08:00", "无法识别的时间"), ("next monday", "无法识别的时间"), ("2022-06-09T09:00", "须带时区")],
)
def test_flask_sweep_refuses_an_instant_it_cannot_read(harness, app, at, message):
    result = app.test_cli_runner().invoke(args=["sweep", "--at", at])
    assert result.exit_code != 0
    assert message in result.output
    assert harness.mail.received == [] and not harness.rows()


# --- bugs found on the way, fixed; these keep them fixed -------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # wording, not storage: one backend
def test_the_sweep_command_leaves_the_apps_clock_alone(harness, app):
    clock = harness.rt.clock
    result = app.test_cli_runner().invoke(args=["sweep", "--at", "2022-06-09T09:00+08:00", "--no-deliver"])
    assert result.exit_code == 0, result.output
    assert harness.rt.clock is clock


def test_a_reminder_missed_in_the_morning_waits_for_the_next_window_instead_of_going_out_at_night(harness, smx):
    h = harness
    daily = [smx.task(seq, "lushi") for seq in (*IMMEDIATE, 9)]
    evening = h.sweep(china(2022, 6, 9, 18, 0))  # the scheduler was down all day
    assert [m for m in evening.mails if m.item in smx.items] == []
    morning = h.sweep(china(2022, 6, 10))
    assert_sent_exactly(morning, smx, smx.mails(daily, "daily:2022-06-10", HANDLER_AND_DEPUTY))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # wording, not storage: one backend
def test_a_daily_reminder_counts_the_days_since_the_item_was_assigned(harness, smx):
    h = harness
    task = smx.task(9, "lushi")
    done = h.sweep(china(2022, 6, 10))  # assigned Wed 06-08: two days ago
    subjects = {m.subject for m in done.mails if m.item == task}
    assert subjects == {"【立行立改】帮扶工作管理不规范（已交办2天）"}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # wording, not storage: one backend
def test_an_overdue_report_escalation_says_how_many_days_it_is_overdue(harness, smx, api):
    h = harness
    declare_reports(api, smx, h)
    report = smx.report(R10, "yima")
    done = h.sweep(china(2022, 6, 13))  # due Fri 06-10: three days overdue
    subjects = {m.subject for m in done.mails if m.item == report}
    assert subjects == {f"【报送提醒】{R10}（已逾期3天）"}


def test_an_approved_extension_records_the_old_deadline_in_the_history(harness, smx, api):
    h = harness
    task_id = smx.tasks[(2, "mianchi")]
    h.clock.now = china(2022, 6, 14, 10, 0)
    r = api.post(f"/tasks/{task_id}/extensions", "mianchi_handler", json={"deadline": "7月15日", "reason": "汛期"})
    assert r.status_code == 201, r.get_json()
    r = api.post(f"/extensions/{r.get_json()['id']}/decision", "smx_deputy", json={"approve": True})
    assert r.status_code == 200, r.get_json()
    new_due = h.sql("SELECT due_at FROM tasks WHERE id = :t", t=task_id)[0].due_at
    assert str(new_due).startswith("2022-07-15")
    data = h.sql("SELECT data FROM task_events WHERE task_id = :t AND kind = 'extension_approved'", t=task_id)
    recorded = data[0].data if isinstance(data[0].data, dict) else json.loads(data[0].data)
    assert recorded["old_due_at"].startswith("2022-06-20T15:59:59")
