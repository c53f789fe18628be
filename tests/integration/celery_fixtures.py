"""Real processes for the Celery tests (and bench/delivery.py): Redis, a recording SMTP
server, a `celery worker` subprocess, and helpers that put work into the outbox.

Nothing here is mocked. The worker is a separate process group started with the same
command line as production (``celery -A workers.celery_app worker``), configured only
through RECTIFY_* environment variables, and always SIGKILLed at teardown.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, insert, select, update

from app.db import Database
from app.models import Notification, User
from tests.conftest import redis_test_url

ROOT = Path(__file__).resolve().parents[2]
CELERY_BIN = str(Path(sys.executable).with_name("celery"))
REDIS_URL = redis_test_url(11)
SENDER = "noreply@rectify.example.cn"
KEY_HEADER = "X-Rectify-Key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def settle(value: Callable[[], object], quiet: float, timeout: float) -> object:
    """Wait until ``value()`` has not changed for ``quiet`` seconds; return it."""
    deadline = time.monotonic() + timeout
    last, since = value(), time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise AssertionError(f"value kept changing for {timeout:.0f}s (last {last!r})")
        time.sleep(0.1)
        now = value()
        if now != last:
            last, since = now, time.monotonic()
    return last


# --- Redis ------------------------------------------------------------------------------------------------


def redis_client(url: str = REDIS_URL):
    """A client for the test's own Redis database, or None (with the reason) if Redis is down."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)
    try:
        client.ping()
    except redis.RedisError as err:
        return None, f"{url}: {type(err).__name__}: {err}"
    return client, ""


# --- SMTP -------------------------------------------------------------------------------------------------


@dataclass
class MailRecorder:
    """aiosmtpd handler that counts accepted messages by their X-Rectify-Key header (a
    key per outbox row: a mail to several recipients counts once for each).

    ``block_after(n)`` makes every message after the n-th wait (before it is recorded or
    answered) until ``release()``. A waiting message whose client goes away is not
    recorded: aiosmtpd cancels the handler on EOF, just as a real server that had not
    yet accepted the message would drop it.

    The faults of a slow or dying peer, once a message is recorded (taken): ``delay``
    answers every message that many seconds late; ``late`` answers the messages with
    those keys that late (after the client's timeout, the client is gone but the message
    was taken); ``on_taken(n, key)`` runs (in a thread) before the n-th message is
    answered, e.g. to kill the worker or stop its database at that very moment.
    ``message_ids`` keeps the Message-ID of every copy, by key.
    """

    keys: Counter = field(default_factory=Counter)
    order: list[str] = field(default_factory=list)  # the keys taken, in order: a row each
    messages: int = 0  # messages taken (a mail to several recipients is one, with a key each)
    connections: int = 0
    blocked: int = 0
    aborted: list[str] = field(default_factory=list)
    first_at: float | None = None
    last_at: float | None = None
    delay: float = 0.0
    late: dict[str, float] = field(default_factory=dict)
    on_taken: Callable[[int, str], None] | None = None
    message_ids: dict[str, list[str]] = field(default_factory=dict)
    _limit: int | None = None
    _released: threading.Event = field(default_factory=threading.Event)
    _parser: BytesHeaderParser = field(default_factory=BytesHeaderParser)

    @property
    def total(self) -> int:
        return len(self.order)

    def duplicates(self) -> dict[str, int]:
        return {k: n for k, n in self.keys.items() if n > 1}

    def block_after(self, n: int) -> None:
        self._released.clear()
        self._limit = n

    def release(self) -> None:
        self._limit = None
        self._released.set()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        session.host_name = hostname
        return offering_pipelining(responses)

    async def handle_DATA(self, server, session, envelope):
        headers = self._parser.parsebytes(envelope.original_content or envelope.content)
        keys = (headers[KEY_HEADER] or "?").split()  # one per recipient: a mail to several carries each row's
        if self._limit is not None and self.messages >= self._limit:
            self.blocked += 1
            try:
                while not self._released.is_set():
                    await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                self.aborted.extend(keys)  # the client died while we held its message
                raise
            finally:
                self.blocked -= 1
        now = time.monotonic()
        self.first_at = self.first_at or now
        self.last_at = now
        self.messages += 1
        for key in keys:
            self.keys[key] += 1
            self.order.append(key)
            self.message_ids.setdefault(key, []).append(headers["Message-ID"])
        if self.on_taken is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.on_taken, self.total, keys[0])
        wait = max(self.late.get(key, self.delay) for key in keys)
        if wait:
            await asyncio.sleep(wait)
        return "250 OK"


def offering_pipelining(responses: list[str]) -> list[str]:
    """EHLO's lines with PIPELINING among them, as Postfix, Exim and the public mail
    services offer it (aiosmtpd reads pipelined commands in order but does not say so)."""
    return [*responses[:-1], "250-PIPELINING", responses[-1]]


@dataclass
class MailServer:
    recorder: MailRecorder
    port: int
    controller: Controller

    def stop(self) -> None:
        self.recorder.release()
        self.controller.stop()


def use_mail_server(monkeypatch, port: int) -> None:
    """An app created after this (in this process) sends its mail to 127.0.0.1:``port``."""
    for name, value in {"HOST": "127.0.0.1", "PORT": str(port), "SENDER": SENDER}.items():
        monkeypatch.setenv(f"RECTIFY_SMTP_{name}", value)


def start_mail_server() -> MailServer:
    recorder = MailRecorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port(), data_size_limit=10_000_000)
    controller.start()
    return MailServer(recorder, controller.port, controller)


# --- The Celery worker ------------------------------------------------------------------------------------


def worker_env(database_url: str, smtp_port: int, instance_dir: Path, redis_url: str = REDIS_URL) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECTIFY_")}
    env.update(
        RECTIFY_DATABASE_URL=database_url,
        RECTIFY_REDIS_URL=redis_url,
        RECTIFY_SECRET_KEY="celery-test-secret",
        RECTIFY_INSTANCE_DIR=str(instance_dir),
        RECTIFY_SMTP_HOST="127.0.0.1",
        RECTIFY_SMTP_PORT=str(smtp_port),
        RECTIFY_SMTP_SENDER=SENDER,
        RECTIFY_SCHEDULER="off",
        PYTHONUNBUFFERED="1",
    )
    return env


class Worker:
    """``celery -A workers.celery_app worker`` in its own process group."""

    def __init__(self, env: dict[str, str], log_path: Path, name: str, concurrency: int = 2) -> None:
        self.log_path = log_path
        self.concurrency = concurrency
        self.killed = False
        self._log = open(log_path, "ab")  # noqa: SIM115 (kept open for the child's lifetime)
        self.proc = subprocess.Popen(
            [
                CELERY_BIN,
                "-A",
                "workers.celery_app",
                "worker",
                "--pool=prefork",
                f"--concurrency={concurrency}",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=INFO",
                "-n",
                f"{name}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killpg reaches the pool children too
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 30) -> Worker:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"celery worker exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            log = self.log()
            return " ready." in log and log.count("pool process ready") >= self.concurrency

        # every pool process warmed up: a task queued now goes to an idle one, side by side
        wait_for(ready, timeout, f"the celery worker and its {self.concurrency} pool processes to be ready")
        return self

    def count(self, task: str, what: str) -> int:
        """How many ``task`` runs this worker logged as ``what`` (received, succeeded, raised)."""
        return len(re.findall(rf"Task {re.escape(task)}\[[0-9a-f-]+\] {what}", self.log()))

    def idle(self) -> bool:
        """Every task it received has finished (succeeded or raised)."""
        return all(
            self.count(t, "received") == self.count(t, "succeeded") + self.count(t, "raised")
            for t in ("rectify.tick", "rectify.deliver")
        )

    def kill(self) -> None:
        """SIGKILL the whole process group (main process and pool children)."""
        self.killed = True
        if self.proc.poll() is None or _group_alive(self.proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        finally:
            self._log.close()
        deadline = time.monotonic() + 10  # the pool children are reparented; wait until they are gone too
        while _group_alive(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies waiting to be reaped don't)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # fields: state, ppid, pgrp, ...
            return True
    return False


def celery_client(redis_url: str = REDIS_URL):
    """A bare Celery app that only sends tasks by name: the test process never imports
    workers.celery_app (that builds a Flask app from the environment)."""
    from celery import Celery

    client = Celery("rectify-test-client", broker=redis_url)
    client.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=True)
    return client


# --- Work in the outbox -----------------------------------------------------------------------------------


def email_users(db: Database) -> list[User]:
    return list(db.session().scalars(select(User).where(User.email.is_not(None), User.active).order_by(User.id)))


def insert_pending_emails(
    db: Database, n: int, prefix: str, due: datetime | None = None, per_item: int = 1
) -> list[int]:
    """``n`` pending e-mail rows for the demo users, due at ``due`` (default: a minute ago);
    ``per_item``: see :func:`insert_pending_rows`."""
    users = email_users(db)
    return insert_pending_rows(db, n, prefix, [(u.id, u.unit_id) for u in users], "email", due, per_item)


def insert_pending_rows(
    db: Database,
    n: int,
    prefix: str,
    to: list[tuple[int | None, int]],
    channel: str,
    due: datetime | None = None,
    per_item: int = 1,
) -> list[int]:
    """``n`` pending reminder rows on ``channel``, row i for ``to[i % len(to)]`` (recipient
    id, unit id), due at ``due`` (default: a minute ago). Returns their ids in order.
    ``per_item`` > 1: each run of that many rows is one item's step to as many people, as
    the sweep writes it (their data name the one message: one mail to them all)."""
    now = datetime.now(UTC)
    due = due or now - timedelta(minutes=1)
    rows = [
        {
            "key": f"{prefix}:{i}:{channel}:{to[i % len(to)][0] or 'unit'}",
            "item_type": "task",
            "item_id": i // per_item,
            "plan_id": None,
            "step": "remind:1d",
            "kind": "remind",
            "level": 0,
            "recipient_id": to[i % len(to)][0],
            "unit_id": to[i % len(to)][1],
            "channel": channel,
            "status": "pending",
            "subject": f"【整改提醒】测试事项{i // per_item}",
            "body": f"测试事项{i // per_item}须于明日前完成",
            "data": {
                "title": f"测试事项{i // per_item}",
                "unit": "测试单位",
                "due_at": (now + timedelta(days=1)).isoformat(),
                "days_left": 1,
                "url": f"/tasks/{i // per_item}",
            }
            | ({"message": f"{prefix}:{i // per_item}:remind:1d"} if per_item > 1 else {}),
            "created_at": now,
            "next_attempt_at": due,
            "attempts": 0,
            "last_error": "",
        }
        for i in range(n)
    ]
    with db.transaction() as s:
        for start in range(0, n, 1000):
            s.execute(insert(Notification), rows[start : start + 1000])
        ids = list(s.scalars(select(Notification.id).where(Notification.key.like(f"{prefix}:%"))))
    return sorted(ids)


def email_status(db: Database) -> dict[str, int]:
    s = db.session()
    try:
        return dict(
            s.execute(
                select(Notification.status, func.count())
                .where(Notification.channel == "email")
                .group_by(Notification.status)
            ).all()
        )
    finally:
        s.rollback()


def email_keys(db: Database, *statuses: str) -> set[str]:
    s = db.session()
    try:
        q = select(Notification.key).where(Notification.channel == "email")
        if statuses:
            q = q.where(Notification.status.in_(statuses))
        return set(s.scalars(q))
    finally:
        s.rollback()


def expire_leases(db: Database) -> list[int]:
    """What the passing of LEASE would do: every 'sending' row becomes reclaimable now."""
    with db.transaction() as s:
        return list(
            s.scalars(
                update(Notification)
                .where(Notification.status == "sending")
                .values(lease_until=datetime.now(UTC) - timedelta(seconds=1))
                .returning(Notification.id)
            )
        )


@pytest.fixture
def redis_db() -> Iterator:
    client, why = redis_client()
    if client is None:
        from tests.conftest import need_service

        need_service("Redis", why)
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    server = start_mail_server()
    try:
        yield server
    finally:
        server.stop()


# --- A PostgreSQL of our own, to stop and start -------------------------------------------------------------


class Cluster:
    """A throwaway PostgreSQL cluster (initdb in a temporary folder, its own port), so a
    test can stop the database under a running worker without touching the shared one.
    Run as the ``postgres`` user when the tests run as root (initdb refuses root)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="rectify-cluster-"))  # pytest's tmp is root's alone
        self.data = self.root / "pgdata"
        self.port = free_port()
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            os.chown(self.root, *_postgres_ids())
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()

    def _run(self, *cmd: str) -> None:
        done = subprocess.run([*self._as, *cmd], capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-2000:]}")

    def start(self) -> None:
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.data / "server.log"), "-w", "start")

    def stop_immediately(self) -> None:
        """What a crash does: no checkpoint, every connection cut."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def sql(self, statement: str) -> None:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(statement))
        finally:
            engine.dispose()

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def _postgres_ids() -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A PostgreSQL cluster with a migrated demo database ``demo`` to copy from."""
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        from tests.conftest import need_service

        need_service("initdb/pg_ctl", "PostgreSQL's server binaries are not on PATH")
    c = Cluster()
    try:
        from app.demo import load_demo
        from app.migrate import upgrade
        from tests.conftest import DEMO_TIME

        c.sql("CREATE DATABASE demo")
        upgrade(c.url("demo"))
        db = Database(c.url("demo"))
        try:
            load_demo(db, DEMO_TIME)
        finally:
            db.dispose()
        yield c
    finally:
        c.destroy()
