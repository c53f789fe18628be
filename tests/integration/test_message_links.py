"""A problem whose title is a markdown link (``[点此核实](http://evil.example/login)``)
reaches the unit's WeCom and DingTalk groups, the mail and the webhook as text: the only
live link in each message is the app's own. Real sweep and delivery, real HTTP and SMTP
servers on 127.0.0.1, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.demo import SMX_COUNTIES
from tests.integration import reminder_fixtures as fixtures
from tests.integration.reminder_fixtures import china

mail, hooks, app, api, harness = fixtures.mail, fixtures.hooks, fixtures.app, fixtures.api, fixtures.harness
db_url = fixtures.quiet_db_url("silent")

TITLE = "[点此核实](http://evil.example/login)"


class RobotSink:
    """Plays the WeCom / DingTalk robot API: keeps each JSON body, answers errcode 0."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                sink.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                body = b'{"errcode": 0, "errmsg": "ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/robot/send"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


@pytest.fixture
def robots() -> Iterator[RobotSink]:
    sink = RobotSink()
    yield sink
    sink.server.shutdown()
    sink.server.server_close()


def links(markdown: str) -> list[str]:
    return re.findall(r"!?\[[^\]]*\]\([^)]*\)", markdown) + re.findall(r"(?:https?://|www\.)[^\s)）]+", markdown)


@pytest.mark.parametrize("robot", ["wecom", "dingtalk"])
def test_a_title_written_as_a_link_reaches_robot_mail_and_webhook_as_plain_words(harness, api, robots, robot):
    units = {u["name"]: u["id"] for u in api.get("/units", "admin").get_json()}
    lushi = units[SMX_COUNTIES["lushi"]]
    r = api.call("PUT", f"/units/{lushi}/robot", "admin", json={"kind": robot, "url": robots.url})
    assert r.status_code == 200, r.get_json()
    body = {"nature": "individual", "title": TITLE, "deadline": "立行立改", "unit_ids": [lushi]}
    assert api.post("/plans/1/problems", "smx_deputy", json=body).status_code == 201

    sweep = harness.sweep(china(2022, 6, 9, 9, 30))

    assert robots.received, "the group robot got the message"
    for payload in robots.received:
        markdown = payload["markdown"]["content"] if robot == "wecom" else payload["markdown"]["text"]
        assert "点此核实" in markdown
        assert all(link.startswith(harness.rt.config.BASE_URL) for link in links(markdown)), markdown
        assert "](http" not in markdown and "http://evil" not in markdown
    assert sweep.mails and sweep.hooks
    for m in sweep.mails:
        assert "http://evil" not in m.subject
    for h in sweep.hooks:
        assert "http://evil" not in h.payload["text"] and "http://evil" not in h.payload["subject"]
        assert "点此核实" in h.payload["text"]
