"""Sessions end on the server, and the sign-in throttle is shared and cannot lock anyone out.

* Signing out, or changing the password, kills the session itself: a copy of the cookie
  taken before is refused afterwards.
* Five wrong passwords for an account from one address refuse that account at that
  address only; its owner still signs in from another. Fifty failures from one address,
  whatever the accounts, refuse that address.
* Counts are shared by every process: through the database without Redis, through Redis
  with it (two app instances stand for two gunicorn workers).
"""

from __future__ import annotations

import re

import pytest
import redis
from limits.storage import RedisStorage

import config
from app import create_app
from app.demo import DEMO_PASSWORD
from app.services.throttle import ADDRESS, LoginThrottle
from tests.conftest import need_service, redis_test_url

ATTACKER = "198.51.100.7"
OWNER = "203.0.113.20"
REDIS_URL = redis_test_url(13)


def form_login(client, username: str, password: str, address: str = "127.0.0.1"):
    env = {"REMOTE_ADDR": address}
    page = client.get("/login", environ_base=env).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {"username": username, "password": password, "csrf_token": token}
    return client.post("/login", data=form, environ_base=env)


def token_login(client, username: str, password: str, address: str = "127.0.0.1"):
    body = {"username": username, "password": password}
    return client.post("/api/v1/auth/token", json=body, environ_base={"REMOTE_ADDR": address})


def csrf(client) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/inbox").get_data(as_text=True)).group(1)


def copy_of(client, app):
    """Another browser holding a copy of ``client``'s session cookie (a stolen cookie)."""
    thief = app.test_client()
    cookie = client.get_cookie("session")
    thief.set_cookie("session", cookie.value)
    return thief


# ---- sessions ----------------------------------------------------------------------------------


def test_signing_out_ends_the_session_for_every_copy_of_its_cookie(app):
    browser = app.test_client()
    assert form_login(browser, "lushi_handler", DEMO_PASSWORD).status_code == 302
    thief = copy_of(browser, app)
    assert thief.get("/tasks").status_code == 200, "the copy works while the session lives"
    assert browser.post("/logout", data={"csrf_token": csrf(browser)}).status_code == 302
    assert thief.get("/tasks").status_code == 302, "the copied cookie died with the session"
    assert browser.get("/tasks").status_code == 302


def test_a_password_change_ends_the_old_session_and_keeps_the_browser_signed_in(app):
    browser = app.test_client()
    assert form_login(browser, "lushi_handler", DEMO_PASSWORD).status_code == 302
    thief = copy_of(browser, app)
    new = "a-brand-new-secret"
    form = {"current": DEMO_PASSWORD, "new": new, "repeat": new, "csrf_token": csrf(browser)}
    assert browser.post("/account/password", data=form).status_code == 302
    assert thief.get("/tasks").status_code == 302, "the cookie from before the change is dead"
    assert browser.get("/tasks").status_code == 200, "the browser that changed it stays signed in"


def test_signing_in_again_starts_a_new_session_and_leaves_the_old_cookie_dead_after_sign_out(app):
    browser = app.test_client()
    form_login(browser, "lushi_handler", DEMO_PASSWORD)
    first = copy_of(browser, app)
    form_login(browser, "lushi_handler", DEMO_PASSWORD)
    browser.post("/logout", data={"csrf_token": csrf(browser)})
    assert first.get("/tasks").status_code == 200, "signing out ends only that session"
    assert browser.get("/tasks").status_code == 302


# ---- the throttle ------------------------------------------------------------------------------


def test_five_wrong_passwords_from_one_address_do_not_lock_the_owner_out_elsewhere(app):
    attacker = app.test_client()
    for _ in range(5):
        assert form_login(attacker, "lushi_handler", "guess", ATTACKER).status_code == 401
    assert form_login(attacker, "lushi_handler", DEMO_PASSWORD, ATTACKER).status_code == 429
    assert token_login(attacker, "lushi_handler", DEMO_PASSWORD, ATTACKER).status_code == 429, "API and form share it"
    assert form_login(app.test_client(), "lushi_handler", DEMO_PASSWORD, OWNER).status_code == 302
    assert token_login(app.test_client(), "lushi_handler", DEMO_PASSWORD, OWNER).status_code == 200
    assert form_login(attacker, "hubin_handler", DEMO_PASSWORD, ATTACKER).status_code == 302, "per account"


def test_a_success_clears_the_accounts_count_at_that_address(app):
    client = app.test_client()
    for _ in range(4):
        assert token_login(client, "lushi_handler", "typo").status_code == 401
    assert token_login(client, "lushi_handler", DEMO_PASSWORD).status_code == 200
    for _ in range(4):
        assert token_login(client, "lushi_handler", "typo").status_code == 401
    assert token_login(client, "lushi_handler", DEMO_PASSWORD).status_code == 200


def test_fifty_failures_from_one_address_refuse_that_address_for_every_account(app):
    throttle = app.extensions["rectify"].login_throttle
    for n in range(ADDRESS.amount):
        throttle.failed(f"nobody{n}", ATTACKER)
    assert token_login(app.test_client(), "hubin_handler", DEMO_PASSWORD, ATTACKER).status_code == 429
    assert form_login(app.test_client(), "hubin_handler", DEMO_PASSWORD, ATTACKER).status_code == 429
    assert token_login(app.test_client(), "hubin_handler", DEMO_PASSWORD, OWNER).status_code == 200


def test_without_redis_two_processes_share_the_count_through_the_database(app, db_url, tmp_path, clock):
    other = create_app(config.TestConfig(db_url, tmp_path / "other"), clock=clock)
    try:
        for _ in range(5):
            assert token_login(app.test_client(), "lushi_handler", "guess").status_code == 401
        assert token_login(other.test_client(), "lushi_handler", DEMO_PASSWORD).status_code == 429
        clock.advance(minutes=16)
        assert token_login(other.test_client(), "lushi_handler", DEMO_PASSWORD).status_code == 200
    finally:
        other.extensions["rectify"].db.dispose()


@pytest.fixture
def redis_url():
    try:
        redis.Redis.from_url(REDIS_URL).flushdb()
    except redis.exceptions.ConnectionError as err:
        need_service("Redis", str(err))
    yield REDIS_URL
    redis.Redis.from_url(REDIS_URL).flushdb()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_with_redis_two_processes_share_the_count(db_url, tmp_path, clock, redis_url):
    apps = []
    for name in ("one", "two"):
        settings = config.TestConfig(db_url, tmp_path / name)
        settings.REDIS_URL = redis_url
        apps.append(create_app(settings, clock=clock))
    try:
        assert all(isinstance(a.extensions["rectify"].login_throttle.storage, RedisStorage) for a in apps)
        for _ in range(5):
            assert token_login(apps[0].test_client(), "lushi_handler", "guess").status_code == 401
        assert token_login(apps[1].test_client(), "lushi_handler", DEMO_PASSWORD).status_code == 429
        assert token_login(apps[1].test_client(), "lushi_handler", DEMO_PASSWORD, OWNER).status_code == 200
    finally:
        for a in apps:
            a.extensions["rectify"].db.dispose()


def test_the_throttle_on_redis_keeps_accounts_and_addresses_apart(redis_url):
    first, second = LoginThrottle(RedisStorage(redis_url)), LoginThrottle(RedisStorage(redis_url))
    for _ in range(5):
        assert second.allows("Lushi_Handler", ATTACKER)
        first.failed("lushi_handler", ATTACKER)
    assert not second.allows("LUSHI_HANDLER", ATTACKER), "names are counted case-blind"
    assert second.allows("lushi_handler", OWNER)
    assert second.allows("hubin_handler", ATTACKER)
