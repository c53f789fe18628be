"""Shared pieces of the reminder-engine tests: real channels on 127.0.0.1 and an app wired to them.

- ``MailSink``: an aiosmtpd server that keeps every message it accepts, parsed, with the
  outbox key the channel writes into ``X-Rectify-Key``. It can be stopped and started
  again on the same port to play a mail server that is down for a while.
- ``HookSink``: a ThreadingHTTPServer playing the webhook receiver; it checks every
  signature with ``app.notify.verify_signature`` against the test clock.
- ``Harness``: an app built by the factory with both channels configured, plus the few
  things every test does: sweep at an instant (tick + deliver_due in a fresh app
  context, as the scheduler does), read outbox rows, and name items and people.

Imported explicitly by the test files (no conftest magic), so nothing here changes
the rest of the suite.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import threading
import time as _time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import event, select, text

from app import create_app, jobs
from app.demo import SMX_COUNTIES
from app.domain.deadlines import CHINA
from app.domain.workflow import State
from app.models import Notification, User
from app.notify import verify_signature
from app.schemas import TransitionIn
from app.services import evidence as evidence_service
from app.services import tasks as task_service
from app.services.auth import issue_token
from config import TestConfig
from tests.conftest import Api, Template, _template, pg_admin, pg_url

SENDER = "rectify@example.gov.cn"
HOOK_SECRET = "s3cret"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
COUNTIES = tuple(SMX_COUNTIES)  # hubin, shanzhou, mianchi, lushi, yima, lingbao, sfq
SMX_PLAN = "三建〔2022〕187号"
SUPERVISORS = ("smx_head", "smx_deputy", "smx_handler")  # the supervisors of the issuing bureau
# outbox keys: <item_type>:<item_id>:<epoch>:<step>:<channel>[:<recipient>]; a step may contain ':'
_KEY = re.compile(
    r"^(?P<type>task|submission|ack):(?P<id>\d+):(?P<epoch>\d+):(?P<step>.+):(?P<channel>email|inbox):\d+$"
)
_HOOK_KEY = re.compile(r"^(?P<type>task|submission|ack):(?P<id>\d+):(?P<epoch>\d+):(?P<step>.+):webhook$")
# the day's 通报 list of an issuing unit: notice_list:<unit id>:<China date>:<channel>[:<recipient>]
_LIST_KEY = re.compile(
    r"^(?P<type>notice_list):(?P<id>\d+):(?P<day>[0-9-]{10}):(?P<channel>email|inbox|webhook)(:\d+)?$"
)


def _item_and_step(key: str, pattern: re.Pattern[str]) -> tuple[str, int, str]:
    """(item type, item id, step) of an outbox key; a 通报 list's item is its issuing unit."""
    match = pattern.match(key)
    if match:
        return match["type"], int(match["id"]), match["step"]
    match = _LIST_KEY.match(key)
    assert match, f"unexpected outbox key {key!r}"
    return match["type"], int(match["id"]), f"notice_list:{match['day']}"


def is_notice(key: str) -> bool:
    """A person's 督办 notice (app.services.digest): one mail listing several escalations,
    under a key of its own (escalation_notice:<recipient>:<first row>)."""
    return key.startswith("escalation_notice:")


def is_event(key: str) -> bool:
    """A workflow event's message (app.services.events): the same outbox and channels as the
    reminders, under keys of their own (<item>:<id>:<occurrence>:event:<kind>:<channel>…)."""
    return ":event:" in key


def china(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    """A China wall-clock time as the aware UTC instant the engine speaks."""
    return datetime(year, month, day, hour, minute, tzinfo=CHINA).astimezone(UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def email_of(username: str) -> str:
    """Demo users are <unit key>_<position>, with mail at <unit key>.<position>@example.gov.cn."""
    unit, position = username.rsplit("_", 1)
    return f"{unit}.{position}@example.gov.cn"


# --- the mail server ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    rcpt: str
    key: str
    subject: str
    message_id: str

    @property
    def parts(self) -> re.Match[str]:
        match = _KEY.match(self.key)
        assert match, f"unexpected outbox key {self.key!r}"
        return match

    @property
    def item(self) -> tuple[str, int]:
        return _item_and_step(self.key, _KEY)[:2]

    @property
    def step(self) -> str:
        return _item_and_step(self.key, _KEY)[2]

    @property
    def epoch(self) -> int:
        return int(self.parts["epoch"])


class _Handler:
    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        msg = message_from_bytes(envelope.content)  # compat32: fast, and the headers we read are simple
        subject = str(make_header(decode_header(msg["Subject"])))
        keys = msg["X-Rectify-Key"].split()  # a mail to several recipients: their rows' keys, in RCPT order
        assert len(keys) == len(envelope.rcpt_tos), (keys, envelope.rcpt_tos)
        with self.sink.lock:
            for rcpt, key in zip(envelope.rcpt_tos, keys, strict=True):
                self.sink.received.append(Mail(rcpt, key, subject, msg["Message-ID"]))
        return "250 OK"


class MailSink:
    """An SMTP server on 127.0.0.1 that keeps what it accepts; stop() and start() keep the port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Mail] = []
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    def start(self) -> None:
        for _ in range(50):  # the port may linger for a moment after stop()
            try:
                self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
                self._controller.start()
                return
            except Exception:  # aiosmtpd reports a busy port in more than one way
                _time.sleep(0.05)
        raise RuntimeError(f"cannot start the mail server on port {self.port}")

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def mark(self) -> int:
        with self.lock:
            return len(self.received)

    def since(self, mark: int) -> list[Mail]:
        with self.lock:
            return list(self.received[mark:])

    def duplicates(self) -> dict[tuple[str, str], int]:
        """(outbox key, recipient) pairs that arrived more than once."""
        with self.lock:
            counts = Counter((m.key, m.rcpt) for m in self.received)
        return {k: n for k, n in counts.items() if n > 1}


# --- the webhook receiver ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hook:
    key: str
    idempotency_key: str
    payload: dict
    signed: bool

    @property
    def item(self) -> tuple[str, int]:
        return _item_and_step(self.key, _HOOK_KEY)[:2]

    @property
    def step(self) -> str:
        return _item_and_step(self.key, _HOOK_KEY)[2]


class HookSink:
    """A webhook receiver that verifies every signature against ``clock`` (the app's clock)."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.received: list[Hook] = []
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                signed = verify_signature(
                    HOOK_SECRET,
                    self.headers.get("X-Rectify-Timestamp", ""),
                    body,
                    self.headers.get("X-Rectify-Signature", ""),
                    clock(),
                )
                payload = json.loads(body)
                with sink.lock:
                    sink.received.append(Hook(payload["key"], self.headers.get("Idempotency-Key", ""), payload, signed))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/rectify-hook"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def mark(self) -> int:
        with self.lock:
            return len(self.received)

    def since(self, mark: int) -> list[Hook]:
        with self.lock:
            return list(self.received[mark:])


# --- the app ------------------------------------------------------------------------------------------------


def build_app(db_url: str, instance: Path, clock: Callable[[], datetime], mail: MailSink, hooks: HookSink) -> Flask:
    cfg = TestConfig(db_url, instance)
    cfg.CHANNEL_SETTINGS = {
        "RECTIFY_SMTP_HOST": "127.0.0.1",
        "RECTIFY_SMTP_PORT": str(mail.port),
        "RECTIFY_SMTP_SENDER": SENDER,
        "RECTIFY_WEBHOOK_URL": hooks.url,
        "RECTIFY_WEBHOOK_SECRET": HOOK_SECRET,
    }
    app = create_app(cfg, clock=clock)
    _fast_commits(app.extensions["rectify"].db.engine)
    channels = app.extensions["rectify"].channels
    channels.email.timeout = 5
    channels.webhook.timeout = 5
    return app


def rectify_with_services(app: Flask, task_id: int, username: str, at: datetime) -> None:
    """What a handler does in the web app (start if needed, attach a photo, rectify), through the services."""
    with app.app_context():
        rt = app.extensions["rectify"]
        db, cfg = rt.db, rt.config
        user = db.session().scalar(select(User).where(User.username == username))
        task = task_service.get_task(db, user, task_id, at).task
        version = task.version
        if task.state == "identified":
            start = TransitionIn(to=State.IN_PROGRESS, version=version)
            version = task_service.transition_task(db, user, task_id, start, at).task.version
        evidence_service.store_evidence(
            db, cfg.UPLOAD_DIR, cfg.MAX_UPLOAD_BYTES, user, task_id, io.BytesIO(PNG), "现场照片.png", at
        )
        rectify = TransitionIn(to=State.RECTIFIED, comment="已整改到位，附现场照片", version=version)
        task_service.transition_task(db, user, task_id, rectify, at)


# --- quiet copies of the demo database ----------------------------------------------------------------------
#
# Delivery costs ~10 ms a mail (the email package folds Chinese headers slowly), and the demo has 36
# 立行立改 tasks reminded every working day. Each test therefore starts from a copy of the demo in
# which the units already fixed (at 09:30 on the demo morning, through the services) every task
# the test does not follow. The copy is built once per backend and session, like conftest's template.

QUIET_AT = datetime(2022, 6, 8, 1, 30, tzinfo=UTC)  # 09:30 China time, half an hour after the demo was loaded
# which tasks stay open: Sanmenxia problems #1 (7月底前), #2 (6月20日), #5 (6月20日前) in every county and
# Lushi's 立行立改 items (#3, #4, #6, #7, #8 and its own #9); or none at all
KEEP = {
    "timeline": lambda seq, county: seq in (1, 2, 5) or (county == "lushi" and seq in (3, 4, 6, 7, 8, 9)),
    "silent": lambda seq, county: False,
}
_quiet: dict[tuple[str, str], str] = {}


def quiet_template(backend: str, keep: str, templates: dict, tmp_path_factory) -> str:
    """The quiet copy for ``keep`` (a KEEP key): a SQLite path or a PostgreSQL database name.

    "silent" is built from "timeline" (it only has to fix the tasks "timeline" left open)."""
    if (backend, keep) in _quiet:
        return _quiet[(backend, keep)]
    if keep == "timeline":
        source = _template(backend, templates, tmp_path_factory).url
    else:
        source = quiet_template(backend, "timeline", templates, tmp_path_factory)
    root = tmp_path_factory.mktemp(f"quiet-{keep}")
    if backend == "sqlite":
        where = str(root / "quiet.db")
        shutil.copy(source, where)
        url = f"sqlite:///{where}"
    else:
        where = f"rectify_quiet_{keep}_{os.getpid()}"
        pg_admin(f"DROP DATABASE IF EXISTS {where}")
        pg_admin(f"CREATE DATABASE {where} TEMPLATE {source}")
        templates[f"quiet-{keep}-postgres"] = Template(where, [lambda: pg_admin(f"DROP DATABASE IF EXISTS {where}")])
        url = pg_url(where)
    app = create_app(TestConfig(url, root / "instance"), clock=lambda: QUIET_AT)
    try:
        counties = {name: key for key, name in SMX_COUNTIES.items()}
        with app.app_context():
            rows = (
                app.extensions["rectify"]
                .db.session()
                .execute(
                    text(
                        "SELECT t.id, p.seq, n.name, u.username FROM tasks t JOIN problems p ON p.id = t.problem_id "
                        "JOIN units n ON n.id = t.unit_id "
                        "JOIN users u ON u.unit_id = t.unit_id AND u.position = 'handler' "
                        "WHERE t.state IN ('identified', 'in_progress') ORDER BY t.id"
                    )
                )
                .all()
            )
        for row in rows:
            if not KEEP[keep](row.seq, counties.get(row.name)):
                rectify_with_services(app, row.id, row.username, QUIET_AT)
    finally:
        app.extensions["rectify"].db.dispose()
    _quiet[(backend, keep)] = where
    return where


def copy_database(backend: str, source: str, folder: Path) -> tuple[str, Callable[[], None]]:
    """A private copy of a quiet template and how to drop it."""
    if backend == "sqlite":
        path = folder / f"{uuid.uuid4().hex[:12]}.db"
        shutil.copy(source, path)
        return f"sqlite:///{path}", lambda: path.unlink(missing_ok=True)
    name = f"rectify_q_{uuid.uuid4().hex[:12]}"
    pg_admin(f"CREATE DATABASE {name} TEMPLATE {source}")
    return pg_url(name), lambda: pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def quiet_db_url(keep: str):
    """A ``db_url`` fixture (to assign in a test module) that copies the quiet template ``keep``."""

    @pytest.fixture
    def db_url(backend, templates, tmp_path_factory, tmp_path, dropper) -> Iterator[str]:
        source = quiet_template(backend, keep, templates, tmp_path_factory)
        if backend == "sqlite":
            url, _drop = copy_database(backend, source, tmp_path)
            yield url
            return
        name = f"rectify_q_{uuid.uuid4().hex[:12]}"
        pg_admin(f"CREATE DATABASE {name} TEMPLATE {source}")
        try:
            yield pg_url(name)
        finally:
            dropper.names.put(name)

    return db_url


def _fast_commits(engine) -> None:
    """Skip the fsync at each commit (delivery commits once per message): only an OS crash could
    tell the difference, and a test database does not outlive the test."""

    @event.listens_for(engine, "connect")
    def _no_fsync(dbapi_conn, _record) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA synchronous=OFF" if engine.dialect.name == "sqlite" else "SET synchronous_commit TO off")
        cur.close()
        dbapi_conn.commit()  # the SET holds once committed, and the connection comes out of the pool idle


# --- fixtures (import them explicitly in the test module) ----------------------------------------------------


@pytest.fixture
def mail() -> Iterator[MailSink]:
    sink = MailSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def hooks(clock) -> Iterator[HookSink]:
    sink = HookSink(clock)
    yield sink
    sink.close()


@pytest.fixture
def app(db_url, tmp_path, clock, mail, hooks) -> Iterator[Flask]:
    """Replaces tests.conftest's ``app`` (so ``api`` uses it too): the same demo copy, real channels."""
    application = build_app(db_url, tmp_path / "instance", clock, mail, hooks)
    yield application
    application.extensions["rectify"].db.dispose()


class MintedApi(Api):
    """tests.conftest's Api, but tokens are minted with the app's key instead of logging in: a login
    costs a deliberately slow scrypt check (~0.15 s), and the login flow is tested elsewhere."""

    def __init__(self, app: Flask) -> None:
        super().__init__(app.test_client())
        self.app = app

    def token(self, username: str) -> str:
        if username not in self._tokens:
            with self.app.app_context():
                rt = self.app.extensions["rectify"]
                user = rt.db.session().scalar(select(User).where(User.username == username))
                assert user is not None, username
                self._tokens[username] = issue_token(rt.config.SECRET_KEY, user)
        return self._tokens[username]


@pytest.fixture
def api(app) -> MintedApi:
    return MintedApi(app)


@pytest.fixture
def harness(app, clock, mail, hooks) -> Harness:
    return Harness(app, clock, mail, hooks)


@dataclass
class Sweep:
    """What one sweep at one instant did, as the sinks saw it."""

    at: datetime
    mails: list[Mail]
    hooks: list[Hook]
    tick: jobs.TickReport | None = None
    delivery: object | None = None


@dataclass
class Harness:
    app: Flask
    clock: object  # tests.conftest.Clock
    mail: MailSink
    hooks: HookSink
    smx: Sanmenxia | None = None  # set by a test that names the Sanmenxia items

    @property
    def rt(self):
        return self.app.extensions["rectify"]

    def tick(self, at: datetime) -> jobs.TickReport:
        self.clock.now = at
        with self.app.app_context():
            return jobs.tick(self.rt, at)

    def deliver(self, at: datetime | None = None):
        if at is not None:
            self.clock.now = at
        with self.app.app_context():
            return jobs.deliver_due(self.rt)

    def sweep(self, at: datetime) -> Sweep:
        """One scheduler beat at ``at``: tick, then deliver what is due, each in its own app context.
        The Sweep shows the reminders it sent (workflow events have tests of their own)."""
        mark, hook_mark = self.mail.mark(), self.hooks.mark()
        report = self.tick(at)
        delivery = self.deliver()
        mails = self.unfolded([m for m in self.mail.since(mark) if not is_event(m.key)])
        return Sweep(at, mails, [x for x in self.hooks.since(hook_mark) if not is_event(x.key)], report, delivery)

    def unfolded(self, mails: list[Mail]) -> list[Mail]:
        """A person's 督办 notice (app.services.digest) stands for the escalation mails it
        folded: one Mail per item it lists, under that item's own key, so a test counts what
        each person heard of each item whether it came alone or in a notice."""
        notices = [m for m in mails if m.key.startswith("escalation_notice:")]
        if not notices:
            return mails
        with self.app.app_context():
            s = self.rt.db.session()
            q = select(Notification.key, Notification.data).where(Notification.key.in_([m.key for m in notices]))
            listed = dict(s.execute(q).all())
            ids = [i for data in listed.values() for i in data["rows"]]
            keys = dict(s.execute(select(Notification.id, Notification.key).where(Notification.id.in_(ids))).all())
            s.rollback()
        alone = [m for m in mails if m not in notices]
        return alone + [replace(m, key=keys[i]) for m in notices for i in listed[m.key]["rows"]]

    def rows(self, *where, events: bool = False) -> list[Notification]:
        """Outbox rows, oldest first; those of workflow events only when asked for."""
        if not events:
            where = (*where, Notification.kind != "event")
        with self.app.app_context():
            s = self.rt.db.session()
            found = list(s.scalars(select(Notification).where(*where).order_by(Notification.id)))
            s.expunge_all()
            return found

    def sql(self, query: str, **params) -> list:
        with self.app.app_context():
            return list(self.rt.db.session().execute(text(query), params).all())

    def ladder_disagreements(self) -> list:
        """Tasks and submissions whose 通报 flag says otherwise than their level (level 3 lists)."""
        return [
            (table, *row)
            for table in ("tasks", "submissions")
            for row in self.sql(
                f"SELECT id, escalation_level, public_notice FROM {table} "
                "WHERE public_notice <> (escalation_level >= 3)"
            )
        ]

    def rectify(self, task_id: int, username: str, at: datetime) -> None:
        """The unit fixes it: start (if needed), attach a photo, rectify, through the services."""
        self.clock.now = at
        rectify_with_services(self.app, task_id, username, at)


@dataclass
class Sanmenxia:
    """Ids of the demo Sanmenxia plan: tasks by (problem seq, county key), the county of every item."""

    plan_id: int
    tasks: dict[tuple[int, str], int]
    county_of_unit: dict[int, str]
    unit_of: dict[tuple[str, int], str] = field(default_factory=dict)
    submissions: dict[tuple[str, str], int] = field(default_factory=dict)
    bureau: int = 0  # the issuing unit, whose supervisors get the 通报 list

    @classmethod
    def load(cls, h: Harness) -> Sanmenxia:
        plan_id, bureau = h.sql("SELECT id, issuing_unit_id FROM plans WHERE doc_number = :d", d=SMX_PLAN)[0]
        names = {r.name: r.id for r in h.sql("SELECT name, id FROM units")}
        county_of_unit = {names[name]: key for key, name in SMX_COUNTIES.items()}
        rows = h.sql(
            "SELECT t.id, t.unit_id, p.seq FROM tasks t JOIN problems p ON p.id = t.problem_id WHERE t.plan_id = :p",
            p=plan_id,
        )
        found = cls(plan_id, {(r.seq, county_of_unit[r.unit_id]): r.id for r in rows}, county_of_unit, bureau=bureau)
        found.unit_of = {("task", r.id): county_of_unit[r.unit_id] for r in rows}
        found.reload(h)
        return found

    def reload(self, h: Harness) -> None:
        """Pick up tasks and submissions created since (new problems, new obligations)."""
        for r in h.sql("SELECT id, unit_id FROM tasks WHERE plan_id = :p", p=self.plan_id):
            self.unit_of[("task", r.id)] = self.county_of_unit[r.unit_id]
        for r in h.sql(
            "SELECT s.id, s.unit_id, o.title FROM submissions s JOIN obligations o ON o.id = s.obligation_id "
            "WHERE s.plan_id = :p",
            p=self.plan_id,
        ):
            county = self.county_of_unit[r.unit_id]
            self.submissions[(r.title, county)] = r.id
            self.unit_of[("submission", r.id)] = county

    @property
    def items(self) -> set[tuple[str, int]]:
        """Every item of the plan, and the bureau's 通报 list."""
        return set(self.unit_of) | {("notice_list", self.bureau)}

    def notice_list(self, day: str) -> set:
        """The (item type, item id, step, address) of the bureau's 通报 list on ``day``: one to each supervisor."""
        return {("notice_list", self.bureau, f"notice_list:{day}", email_of(u)) for u in SUPERVISORS}

    def task(self, seq: int, county: str) -> tuple[str, int]:
        return ("task", self.tasks[(seq, county)])

    def report(self, title: str, county: str) -> tuple[str, int]:
        return ("submission", self.submissions[(title, county)])

    def mails(self, items: Iterable[tuple[str, int]], step: str, audience: Iterable[str]) -> set:
        """The (item type, item id, step, address) a step should send: positions of the item's county,
        or "supervisor" for the supervisors of the Sanmenxia bureau."""
        expected = set()
        for item in items:
            for who in audience:
                users = SUPERVISORS if who == "supervisor" else (f"{self.unit_of[item]}_{who}",)
                expected |= {(*item, step, email_of(u)) for u in users}
        return expected
