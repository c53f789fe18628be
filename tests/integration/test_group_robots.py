"""Group robots and their platforms' limits, against a local HTTP server that plays a WeCom
robot as the platform documents it: at most 20 messages in any window (a minute there,
two seconds here), the one over it answered with errcode 45009, and the robot then
refused for a while. Real database (SQLite and PostgreSQL), real clock, real HTTP.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select, update

from app import create_app, jobs, system_clock
from app.models import Notification, Unit
from config import TestConfig
from tests.integration.celery_fixtures import insert_pending_rows, wait_for

RATE_LIMITED = 45009
ROBOT_UNIT = 5


@dataclass
class Post:
    at: float
    content: str
    idempotency_key: str


@dataclass
class RobotServer:
    """A WeCom robot: ``limit`` messages in any ``window`` seconds; the one over it gets
    errcode 45009 and the robot refuses everything for ``block`` seconds after."""

    limit: int = 1000
    window: float = 2.0
    block: float = 3.0
    accepted: list[Post] = field(default_factory=list)
    over_rate: list[float] = field(default_factory=list)  # the posts that tripped the limit
    while_blocked: list[float] = field(default_factory=list)  # posts that came during a block
    blocked_until: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, payload: dict, idempotency_key: str) -> int:
        now = time.monotonic()
        with self.lock:
            if now < self.blocked_until:
                self.while_blocked.append(now)
                return RATE_LIMITED
            if sum(p.at > now - self.window for p in self.accepted) >= self.limit:
                self.over_rate.append(now)
                self.blocked_until = now + self.block
                return RATE_LIMITED
            self.accepted.append(Post(now, payload["markdown"]["content"], idempotency_key))
            return 0


@pytest.fixture
def robot() -> Iterator[tuple[RobotServer, str]]:
    state = RobotServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            code = state.answer(payload, self.headers.get("Idempotency-Key", ""))
            body = json.dumps({"errcode": code, "errmsg": "api freq out of limit" if code else "ok"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/cgi-bin/webhook/send?key=k"
    finally:
        server.shutdown()
        server.server_close()


def live_app(db_url: str, tmp_path, robot_url: str, rate: str, block_seconds: float):
    """The app on the real clock, with the robot rate and block period given."""
    cfg = TestConfig(db_url, tmp_path / "instance")
    cfg.DELIVERY_RATES = {"wecom": rate}
    cfg.DELIVERY_LEASE_SECONDS = 10
    cfg.CHANNEL_SETTINGS = {"RECTIFY_ROBOT_TIMEOUT": "2", "RECTIFY_ROBOT_WECOM_BLOCK_SECONDS": str(block_seconds)}
    app = create_app(cfg, clock=system_clock)
    with app.app_context(), app.extensions["rectify"].db.transaction() as s:
        s.execute(update(Notification).values(status="sent"))  # the demo's own rows are not this test's
        s.execute(update(Unit).where(Unit.id == ROBOT_UNIT).values(robot_kind="wecom", robot_url=robot_url))
    return app


def deliver_until_done(app, ids: list[int], workers: int, timeout: float) -> None:
    """``workers`` threads each calling deliver_due (as Celery workers would on every tick)
    until every row is sent."""
    rt = app.extensions["rectify"]
    stop = threading.Event()

    def work() -> None:
        with app.app_context():
            while not stop.is_set():
                jobs.deliver_due(rt, ids=ids, limit=len(ids))
                time.sleep(0.05)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: statuses(app, ids) == {"sent"}, timeout, f"{len(ids)} robot messages to be sent")
    finally:
        stop.set()
        for t in threads:
            t.join(30)


def statuses(app, ids: list[int]) -> set[str]:
    with app.app_context():
        s = app.extensions["rectify"].db.session()
        try:
            return set(s.scalars(select(Notification.status).where(Notification.id.in_(ids))))
        finally:
            s.rollback()


def rows(app, ids: list[int]) -> list[Notification]:
    with app.app_context():
        s = app.extensions["rectify"].db.session()
        found = list(s.scalars(select(Notification).where(Notification.id.in_(ids)).order_by(Notification.id)))
        s.expunge_all()
        s.rollback()
        return found


def test_messages_over_a_robots_rate_wait_their_turn_in_order_and_the_platform_never_refuses_one(
    db_url, tmp_path, robot
):
    server, url = robot
    server.limit, server.window = 20, 2.0
    app = live_app(db_url, tmp_path, url, rate="20/2", block_seconds=3)
    with app.app_context():
        ids = insert_pending_rows(app.extensions["rectify"].db, 45, "rate", [(None, ROBOT_UNIT)], "wecom")

    started = time.monotonic()
    deliver_until_done(app, ids, workers=1, timeout=30)

    assert server.over_rate == [] and server.while_blocked == []
    assert [p.idempotency_key for p in server.accepted] == [r.key for r in rows(app, ids)]  # each once, in order
    assert time.monotonic() - started >= 2 * server.window  # 45 messages at 20 per window take three windows
    assert {r.attempts for r in rows(app, ids)} == {1}  # waiting for the rate used no attempt
    app.extensions["rectify"].db.dispose()


def test_a_robot_the_platform_blocks_gets_nothing_until_the_block_is_over_and_every_message_arrives_once(
    db_url, tmp_path, robot
):
    server, url = robot
    server.limit, server.window, server.block = 10, 2.0, 2.0  # stricter than we were told
    app = live_app(db_url, tmp_path, url, rate="20/2", block_seconds=2)
    with app.app_context():
        ids = insert_pending_rows(app.extensions["rectify"].db, 30, "block", [(None, ROBOT_UNIT)], "wecom")

    deliver_until_done(app, ids, workers=2, timeout=40)

    assert server.over_rate, "the platform's limit was never reached: the test proves nothing"
    assert server.while_blocked == []  # once told, nothing was sent while the robot was blocked
    keys = [p.idempotency_key for p in server.accepted]
    assert sorted(keys) == sorted(r.key for r in rows(app, ids)) and len(set(keys)) == len(keys)
    assert {(r.status, r.attempts) for r in rows(app, ids)} == {("sent", 1)}  # a refusal is not the message's fault
    app.extensions["rectify"].db.dispose()


def test_many_items_for_one_group_in_one_sweep_go_out_as_one_summary_message(app, api, rt, clock, robot):
    server, url = robot
    assert api.call("PUT", f"/units/{ROBOT_UNIT}/robot", "admin", json={"kind": "wecom", "url": url}).status_code == 200
    clock.now = datetime(2022, 6, 9, 1, 5, tzinfo=UTC)  # 09:05 China time, a Thursday

    jobs.tick(rt, clock.now)
    report = jobs.deliver_due(rt)

    s = rt.db.session()
    folded = list(s.scalars(select(Notification).where(Notification.status == "summarized")))
    [summary] = s.scalars(select(Notification).where(Notification.kind == "summary"))
    assert len(folded) >= 2 and {r.unit_id for r in folded} == {ROBOT_UNIT}
    assert (summary.status, summary.data["rows"]) == ("sent", [r.id for r in folded])
    [post] = server.accepted  # one message for the group, not one per item
    assert f"{len(folded)}项整改事项需要关注" in post.content
    assert all(r.data["title"] in post.content for r in folded)
    assert report.sent >= 1
    assert jobs.tick(rt, clock.now).sweep.notifications == 0 and jobs.deliver_due(rt).claimed == 0
