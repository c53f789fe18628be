"""Browser tests: the real app on a live server, driven by Debian's Chromium.

Each test gets its own copy of the SQLite demo database and its own server, at a fixed
instant (2022-06-21 10:00 China time, the morning after the 6月20日 deadlines) so that
some tasks are overdue. The browser is started once per session; every test opens a
fresh context (no shared cookies). Full-page screenshots of each page visited go to
test-artifacts/screenshots/<test>-<step>.png, listed in INDEX.txt there.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app.demo import DEMO_PASSWORD
from tests.conftest import Clock, need_service

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
E2E_NOW = datetime(2022, 6, 21, 2, 0, tzinfo=UTC)  # 2022-06-21 10:00 in Asia/Shanghai
TIMEOUT_MS = 10_000
SHOTS: list[Path] = []


@pytest.fixture
def backend() -> str:
    """Browser tests run on SQLite only (the API suite covers PostgreSQL)."""
    return "sqlite"


@pytest.fixture
def clock() -> Clock:
    return Clock(E2E_NOW)


@dataclass
class LiveServer:
    url: str
    clock: Clock


@pytest.fixture
def live_server(app, clock) -> Iterator[LiveServer]:
    """The test's app served on a free port by a threaded werkzeug server."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", clock)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        need_service("Chromium", "run `make browser`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - requirements-dev installs it
        need_service("Playwright", "pip install -r requirements-dev.txt")
    pw = sync_playwright().start()
    try:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        pw.stop()


@pytest.fixture
def new_page(browser, live_server) -> Iterator[Callable]:
    """Opens a page in a fresh browser context (its own cookies: one user per context)."""
    contexts = []

    def open_page():
        ctx = browser.new_context(
            base_url=live_server.url,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
            viewport={"width": 1280, "height": 900},
            accept_downloads=True,
        )
        ctx.set_default_timeout(TIMEOUT_MS)
        contexts.append(ctx)
        return ctx.new_page()

    yield open_page
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.fixture(scope="session")
def screenshot_dir(request) -> Iterator[Path]:
    """The run's screenshot folder, emptied once per run by tests/conftest.py (not here:
    under pytest-xdist each worker is a session and would delete the other's images).
    Each worker appends the shots it took to INDEX.txt."""
    folder = Path(request.config.rootpath) / "test-artifacts" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    yield folder
    with (folder / "INDEX.txt").open("a", encoding="utf-8") as index:
        index.write("".join(f"{p}\n" for p in SHOTS))


@pytest.fixture
def shot(request, screenshot_dir) -> Callable:
    """``shot(page, "step")`` saves a full-page PNG named after the test and the step."""

    def take(page, step: str) -> Path:
        path = screenshot_dir / f"{request.node.name}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        SHOTS.append(path)
        return path

    return take


@pytest.fixture
def login(shot) -> Callable:
    """Signs ``page`` in as a demo user through the login form and waits for the home page."""

    def sign_in(page, username: str, screenshot: bool = False):
        page.goto("/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", DEMO_PASSWORD)
        if screenshot:
            shot(page, f"login-{username}")
        with page.expect_navigation():
            page.click("section.login button[type=submit]")
        assert page.url.endswith("/"), f"{username} did not land on the home page: {page.url}"
        return page

    return sign_in


def pytest_terminal_summary(terminalreporter):
    if SHOTS:
        terminalreporter.section("browser screenshots")
        for path in SHOTS:
            terminalreporter.write_line(str(path))
