"""The API around reminders: preferences, group robots, policy, obligations and
submissions, extensions, the inbox and the admin's view of failed messages."""

import io
import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from jinja2 import TemplateError

from app import jobs
from app.services import delivery

from .test_pages import login

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_a_user_turns_on_the_daily_digest(api):
    r = api.call("PUT", "/me/preferences", "lushi_handler", json={"digest": True})
    assert r.status_code == 200
    body = r.get_json()
    assert (body["notify_email"], body["digest"]) == (True, True)
    assert set(body["events"].values()) == {"digest"}  # events the user never chose for follow the general choice


def test_only_an_admin_sets_a_units_group_robot(api):
    body = {"kind": "dingtalk", "url": "https://oapi.example.com/robot/send?access_token=x", "secret": "SEC1"}
    assert api.call("PUT", "/units/2/robot", "smx_head", json=body).status_code == 403
    assert api.call("PUT", "/units/2/robot", "admin", json=body).status_code == 200
    bad = api.call("PUT", "/units/2/robot", "admin", json={"kind": "wecom", "url": "ftp://x"})
    assert bad.status_code == 422 and "url" in bad.get_data(as_text=True)


def test_plan_policy_override_is_validated_and_kept(api):
    r = api.call("PUT", "/plans/1/policy", "smx_deputy", json={"remind_days_before": [5, 1], "window_end": "18:00"})
    assert r.status_code == 200
    effective = api.get("/plans/1/policy", "lushi_handler").get_json()["effective"]
    assert effective["remind_days_before"] == [5, 1] and effective["window_end"] == "18:00"
    bad = api.call("PUT", "/plans/1/policy", "smx_deputy", json={"window_start": "19:00", "window_end": "18:00"})
    assert bad.status_code == 422 and "window_start" in bad.get_json()["message"]
    assert api.call("PUT", "/plans/1/policy", "lushi_head", json={"remind_on_day": False}).status_code == 403


def test_an_unknown_schedule_is_refused_with_the_accepted_forms(api):
    r = api.post("/plans/1/obligations", "smx_deputy", json={"title": "周报", "schedule": "有空时"})
    assert r.status_code == 422 and "每周五" in r.get_json()["message"]
    assert api.get("/plans/1/submissions", "smx_deputy").get_json() == []


def test_a_report_is_owed_by_every_county_submitted_and_returned_then_accepted(api):
    r = api.post("/plans/1/obligations", "smx_deputy", json={"title": "整改方案及台账", "schedule": "6月10日前"})
    assert r.status_code == 201 and r.get_json()["kind"] == "once"
    owed = api.get("/plans/1/submissions", "smx_deputy").get_json()
    assert len(owed) == 7 and {s["due_on"] for s in owed} == {"2022-06-10"}
    mine = api.get("/plans/1/submissions", "lushi_handler").get_json()
    assert len(mine) == 1
    sid = mine[0]["id"]
    assert (
        api.post(f"/submissions/{sid}/submit", "hubin_handler", data={"note": "x", "version": "1"}).status_code == 404
    )
    sub = api.post(
        f"/submissions/{sid}/submit",
        "lushi_handler",
        data={"note": "见附件", "version": "1", "file": (io.BytesIO(PDF), "台账.pdf")},
    )
    assert (
        sub.status_code == 200 and sub.get_json()["state"] == "submitted" and sub.get_json()["file_name"] == "台账.pdf"
    )
    no_reason = api.post(f"/submissions/{sid}/review", "smx_deputy", json={"accept": False, "version": 2})
    assert no_reason.status_code == 422
    back = api.post(
        f"/submissions/{sid}/review", "smx_deputy", json={"accept": False, "comment": "缺少盖章", "version": 2}
    )
    assert back.status_code == 200 and back.get_json()["state"] == "returned"
    again = api.post(f"/submissions/{sid}/submit", "lushi_handler", data={"note": "已盖章", "version": "3"})
    assert again.status_code == 200
    stale = api.post(f"/submissions/{sid}/review", "smx_deputy", json={"accept": True, "version": 3})
    assert stale.status_code == 409
    ok = api.post(f"/submissions/{sid}/review", "smx_head", json={"accept": True, "version": 4})
    assert ok.status_code == 200 and ok.get_json()["state"] == "accepted"


def test_an_extension_needs_a_later_date_and_the_supervisor_decides(api, clock):
    task = api.task_of("lushi_handler")
    tid = task["id"]
    early = api.post(f"/tasks/{tid}/extensions", "lushi_handler", json={"deadline": "6月1日", "reason": "雨季"})
    assert early.status_code == 422
    asked = api.post(f"/tasks/{tid}/extensions", "lushi_handler", json={"deadline": "9月30日", "reason": "雨季施工"})
    assert asked.status_code == 201
    rid = asked.get_json()["id"]
    assert (
        api.post(f"/tasks/{tid}/extensions", "lushi_handler", json={"deadline": "9月1日", "reason": "x"}).status_code
        == 409
    )
    assert api.post(f"/extensions/{rid}/decision", "lushi_head", json={"approve": True}).status_code == 403
    assert api.post(f"/extensions/{rid}/decision", "hubin_head", json={"approve": True}).status_code == 404
    decided = api.post(f"/extensions/{rid}/decision", "smx_deputy", json={"approve": True, "comment": "同意"})
    assert decided.status_code == 200 and decided.get_json()["state"] == "approved"
    after = api.get(f"/tasks/{tid}", "lushi_handler").get_json()
    assert after["due_at"].startswith("2022-09-30T15:59:59")
    kinds = [e["kind"] for e in api.get(f"/tasks/{tid}/history", "lushi_handler").get_json()]
    assert kinds[-2:] == ["extension_requested", "extension_approved"]


def test_the_inbox_fills_on_a_sweep_and_is_marked_read(app, api, rt, clock):
    clock.now = datetime(2022, 6, 9, 1, 5, tzinfo=UTC)  # 09:05 China time, a Thursday
    jobs.tick(rt, clock.now)
    page = api.get("/inbox", "lushi_handler").get_json()
    assert page["unread"] > 0 and page["unread"] == len(page["items"])
    first = page["items"][0]["id"]
    after_one = api.post(f"/inbox/{first}/read", "lushi_handler").get_json()
    assert after_one["unread"] == page["unread"] - 1
    assert api.post(f"/inbox/{first}/read", "hubin_handler").status_code == 404
    assert api.post("/inbox/read-all", "lushi_handler").get_json()["unread"] == 0


def test_each_reader_sees_reminders_and_escalations_worded_in_their_own_language(app, api, rt, clock):
    """The sweep words nothing: the inbox page and API render each subject from the
    templates in the reader's language, so a handler who chose English reads English
    while the deputy of the same unit, on the same items, reads Chinese."""
    assert api.call("PUT", "/me/preferences", "gucheng_handler", json={"lang": "en"}).status_code == 200
    seen: dict[tuple[str, str], set[str]] = {}
    for day in ((2022, 6, 6), (2022, 6, 9), (2022, 6, 13), (2022, 8, 15)):  # before the deadlines, then long after
        clock.now = datetime(*day, 1, 5, tzinfo=UTC)
        jobs.tick(rt, clock.now)
        for user in ("gucheng_handler", "gucheng_deputy"):
            for item in api.get("/inbox", user).get_json()["items"]:
                seen.setdefault((user, item["kind"]), set()).add(item["subject"])
    english = {kind: subjects for (user, kind), subjects in seen.items() if user == "gucheng_handler"}
    chinese = {kind: subjects for (user, kind), subjects in seen.items() if user == "gucheng_deputy"}
    assert english["remind"] and all(s.startswith("[Reminder] ") for s in english["remind"])
    assert english["escalate"] and all(s.startswith("[Overdue, level ") for s in english["escalate"])
    assert chinese["remind"] and all(s.startswith("【整改提醒】") for s in chinese["remind"])
    assert chinese["escalate"] and all(s.startswith("【逾期督办") for s in chinese["escalate"])

    pages = {}
    for user in ("gucheng_handler", "gucheng_deputy"):
        client = app.test_client()
        login(client, user)
        pages[user] = client.get("/inbox").get_data(as_text=True)
    assert "[Overdue, level " in pages["gucheng_handler"] and "【逾期督办" not in pages["gucheng_handler"]
    assert "【逾期督办" in pages["gucheng_deputy"] and "[Overdue" not in pages["gucheng_deputy"]


def test_a_template_that_fails_in_the_inbox_is_logged_and_the_items_title_shown(api, rt, clock, monkeypatch, caplog):
    clock.now = datetime(2022, 6, 9, 1, 5, tzinfo=UTC)
    jobs.tick(rt, clock.now)

    def broken(*args, **kwargs):
        raise TemplateError("broken template")

    monkeypatch.setattr(delivery, "render", broken)
    r = api.get("/inbox", "lushi_handler")
    assert r.status_code == 200
    daily = [i for i in r.get_json()["items"] if i["kind"] == "daily"]
    assert daily and all(i["subject"] == i["data"]["title"] for i in daily)
    assert any("notification template daily (zh) failed" in rec.getMessage() for rec in caplog.records)


class _RobotRefusingEverything(BaseHTTPRequestHandler):
    """A WeCom robot endpoint that answers every post with a permanent error code."""

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"errcode": 93000, "errmsg": "invalid webhook url"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_admin_sees_messages_that_failed_for_good(api, rt, clock):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RobotRefusingEverything)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/cgi-bin/webhook/send?key=k"
        assert api.call("PUT", "/units/5/robot", "admin", json={"kind": "wecom", "url": url}).status_code == 200
        clock.now = datetime(2022, 6, 9, 1, 5, tzinfo=UTC)
        jobs.tick(rt, clock.now)
        report = jobs.deliver_due(rt)
    finally:
        server.shutdown()
    assert report.failed > 0 and report.sent == 0
    failed = api.get("/admin/failed-notifications", "admin").get_json()
    assert len(failed) == report.failed and {f["channel"] for f in failed} == {"wecom"}
    assert all("93000" in f["last_error"] for f in failed)
    assert api.get("/admin/failed-notifications", "smx_head").status_code == 403
