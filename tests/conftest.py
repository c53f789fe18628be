"""Shared fixtures.

Integration tests run against both SQLite and PostgreSQL (the same test, parametrised
by ``backend``). Each backend gets one migrated template database with the demo data,
built once per test session; every test then works on its own copy (a file copy for
SQLite, ``CREATE DATABASE … TEMPLATE`` for PostgreSQL), so tests cannot see each
other's rows and no test pays for migrations or password hashing again.

PostgreSQL is 127.0.0.1:5432 (user postgres, trust) unless RECTIFY_TEST_PG says
otherwise. When it is unreachable the PostgreSQL half is skipped with a message,
except under CI=true, where it fails.
"""

from __future__ import annotations

import os
import queue
import shutil
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text, update

from app import create_app
from app.db import Database
from app.demo import DEMO_PASSWORD, load_demo
from app.migrate import upgrade
from app.models import Task, User
from app.services.auth import issue_token
from config import TestConfig

PG_ADMIN_URL = os.environ.get("RECTIFY_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"
DEMO_TIME = datetime(2022, 6, 8, 1, 0, tzinfo=UTC)  # the morning after the Sanmenxia plan was issued
# "today" for the demo as a campaign under way (`flask demo`): a Wednesday, 10:00 China time
CAMPAIGN_NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)


def redis_test_url(default_db: int) -> str:
    """The Redis database a test module may flush: RECTIFY_TEST_REDIS, else ``default_db``.

    Under pytest-xdist (``make test`` runs two workers) each worker gets the next
    database up, so one worker's FLUSHDB never empties the other's broker."""
    url = os.environ.get("RECTIFY_TEST_REDIS", f"redis://127.0.0.1:6379/{default_db}")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    offset = int(worker.removeprefix("gw") or 0)
    if not offset:
        return url
    base, db = url.rsplit("/", 1)
    return f"{base}/{int(db) + offset}"


def pytest_sessionstart(session) -> None:
    """Empty test-artifacts/screenshots once per run, before any test writes to it: in the
    plain run, or in pytest-xdist's controller (its workers carry ``workerinput``)."""
    if hasattr(session.config, "workerinput"):
        return
    folder = Path(session.config.rootpath) / "test-artifacts" / "screenshots"
    if folder.is_dir():
        for old in [*folder.glob("*.png"), folder / "INDEX.txt"]:
            old.unlink(missing_ok=True)


def need_service(name: str, reason: str) -> None:
    """Skip with a clear message locally; fail under CI, where every service must run."""
    message = f"{name} is not reachable ({reason})"
    if IN_CI:
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(f"{message}; start it to run these tests")


def pg_url(dbname: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + dbname


def pg_admin(sql: str) -> None:
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


class _Dropper:
    """Drops finished test databases on a background thread: DROP DATABASE waits for a
    checkpoint, and the next test need not wait for it."""

    def __init__(self) -> None:
        self.names: queue.Queue[str | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (name := self.names.get()) is not None:
            pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def finish(self) -> None:
        self.names.put(None)
        self.thread.join()


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


@pytest.fixture(scope="session")
def self_signed(tmp_path_factory) -> Certificate:
    """A fresh self-signed certificate for 127.0.0.1, made with the openssl command line."""
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return Certificate(cert, key)


@pytest.fixture(scope="session")
def dropper() -> Iterator[_Dropper]:
    d = _Dropper()
    yield d
    d.finish()


@dataclass
class Clock:
    """A settable clock handed to the app: tests decide what "now" is."""

    now: datetime = DEMO_TIME

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += timedelta(**kw)


@dataclass
class Template:
    url: str
    cleanup: list = field(default_factory=list)


def _build_template(url: str) -> None:
    upgrade(url)
    db = Database(url)
    try:
        load_demo(db, DEMO_TIME)
        # The demo's tasks await their 签收 from 2022 on: the suite's reminder tests count
        # the deadline ladder's mail, so the template's ack ladders are switched off (the
        # tasks still await acknowledgement); tests of the ack ladder make their own tasks.
        with db.transaction() as s:
            s.execute(update(Task).values(ack_next_action_at=None))
    finally:
        db.dispose()


def load_campaign_demo(url: str, instance_dir, now: datetime = CAMPAIGN_NOW) -> None:
    """What `make run` does to an empty database, at ``now``: migrate, then `flask demo --if-empty`."""
    upgrade(url)
    application = create_app(TestConfig(url, instance_dir), clock=lambda: now)
    try:
        result = application.test_cli_runner().invoke(args=["demo", "--if-empty"])
        assert result.exit_code == 0, result.output
    finally:
        application.extensions["rectify"].db.dispose()


@pytest.fixture(scope="session")
def campaign_sqlite(tmp_path_factory) -> tuple[str, object]:
    """One SQLite database with the demo as `make run` loads it at CAMPAIGN_NOW, and its
    instance folder (the evidence files), shared by the tests that only read it."""
    folder = tmp_path_factory.mktemp("campaign")
    url = f"sqlite:///{folder / 'rectify.db'}"
    load_campaign_demo(url, folder / "instance")
    return url, folder / "instance"


@pytest.fixture(scope="session")
def templates(tmp_path_factory) -> Iterator[dict[str, Template | str]]:
    """Lazily built template databases, keyed by backend."""
    built: dict[str, Template | str] = {}
    yield built
    for tpl in built.values():
        if isinstance(tpl, Template):
            for fn in tpl.cleanup:
                fn()


def _template(backend: str, templates: dict, tmp_path_factory) -> Template:
    if backend in templates:
        tpl = templates[backend]
        if isinstance(tpl, str):
            need_service("PostgreSQL", tpl)
        return tpl
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("tpl") / "template.db"
        _build_template(f"sqlite:///{path}")
        templates[backend] = Template(str(path))
    else:
        name = f"rectify_tpl_{os.getpid()}"
        try:
            pg_admin(f"DROP DATABASE IF EXISTS {name}")
            pg_admin(f"CREATE DATABASE {name}")
        except Exception as err:
            templates[backend] = f"{PG_ADMIN_URL}: {type(err).__name__}"
            need_service("PostgreSQL", templates[backend])
        _build_template(pg_url(name))
        templates[backend] = Template(name, [lambda: pg_admin(f"DROP DATABASE IF EXISTS {name}")])
    return templates[backend]


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def db_url(backend, templates, tmp_path_factory, tmp_path, dropper) -> Iterator[str]:
    """A private copy of the demo database for one test."""
    tpl = _template(backend, templates, tmp_path_factory)
    if backend == "sqlite":
        path = tmp_path / "rectify.db"
        shutil.copy(tpl.url, path)
        yield f"sqlite:///{path}"
        return
    name = f"rectify_t_{uuid.uuid4().hex[:12]}"
    pg_admin(f"CREATE DATABASE {name} TEMPLATE {tpl.url}")
    try:
        yield pg_url(name)
    finally:
        dropper.names.put(name)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(db_url, tmp_path, clock):
    application = create_app(TestConfig(db_url, tmp_path / "instance"), clock=clock)
    yield application
    # A ledger import a test confirmed runs in a thread of its own (app.jobs.submit_import,
    # no scheduler in tests); left running, it worked on after its test, on a database
    # being dropped, beside the next test, and its traceback's ast.parse beside the next
    # create_app's route compiling failed that setup ("AST constructor recursion depth
    # mismatch": CPython 3.11 shares the ast module's state between threads, gh-106905).
    for thread in threading.enumerate():
        if thread.name.startswith("ledger-import-"):
            thread.join(60)
    application.extensions["rectify"].db.dispose()


@pytest.fixture
def rt(app):
    """The app's runtime (db, config, clock), inside an app context."""
    with app.app_context():
        yield app.extensions["rectify"]


class Api:
    """A JSON client that signs in as demo users by name."""

    def __init__(self, client) -> None:
        self.client = client
        self._tokens: dict[str, str] = {}

    def token(self, username: str) -> str:
        if username not in self._tokens:
            r = self.client.post("/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD})
            assert r.status_code == 200, r.get_json()
            self._tokens[username] = r.get_json()["token"]
        return self._tokens[username]

    def call(self, method: str, path: str, as_user: str, **kw):
        headers = kw.pop("headers", {}) | {"Authorization": f"Bearer {self.token(as_user)}"}
        return self.client.open("/api/v1" + path, method=method, headers=headers, **kw)

    def get(self, path: str, as_user: str, **kw):
        return self.call("GET", path, as_user, **kw)

    def post(self, path: str, as_user: str, **kw):
        return self.call("POST", path, as_user, **kw)

    def task_of(self, unit_user: str, **filters) -> dict:
        """The first task visible to ``unit_user`` that belongs to their own unit."""
        me = self.get("/me", unit_user).get_json()
        query = {"unit_id": me["unit_id"], "per_page": 200} | filters
        items = self.get("/tasks", unit_user, query_string=query).get_json()["items"]
        assert items, f"no task for {unit_user} with {filters}"
        return items[0]


def presign(api: Api, app) -> Api:
    """Give ``api`` every user's token, minted as the token endpoint mints them, so tests
    that are not about signing in do not pay for password hashing at every sign-in."""
    rt = app.extensions["rectify"]
    with app.app_context():
        for user in rt.db.session().scalars(select(User)):
            api._tokens[user.username] = issue_token(rt.config.SECRET_KEY, user)
    return api


@pytest.fixture
def api(app, request) -> Api:
    """Modules marked ``presigned`` start with every token (see :func:`presign`)."""
    client = Api(app.test_client())
    return presign(client, app) if request.node.get_closest_marker("presigned") else client


def pytest_collection_modifyitems(items):
    for item in items:
        if "backend" in getattr(item, "fixturenames", ()) and "[postgres" in item.nodeid:
            item.add_marker(pytest.mark.postgres)
