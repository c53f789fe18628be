"""Login throttling kept in Redis is shared by every process that serves logins."""

from datetime import UTC, datetime, timedelta

import pytest
import redis

from app.services.throttle import RedisLoginThrottle
from tests.conftest import need_service

URL = "redis://127.0.0.1:6379/13"


@pytest.fixture
def throttles():
    try:
        redis.Redis.from_url(URL).flushdb()
    except redis.exceptions.ConnectionError as err:
        need_service("Redis", str(err))
    yield RedisLoginThrottle(URL), RedisLoginThrottle(URL)
    redis.Redis.from_url(URL).flushdb()


def test_failures_counted_in_one_process_lock_the_name_in_another(throttles):
    first, second = throttles
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    for _ in range(5):
        assert second.allow("lushi_handler", now)
        first.fail("lushi_handler", now)
    assert not second.allow("lushi_handler", now)
    assert second.allow("hubin_handler", now)


def test_the_lock_lifts_after_the_window(throttles):
    first, second = throttles
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    for _ in range(5):
        first.fail("Lushi_Handler", now)
    assert not second.allow("lushi_handler", now + timedelta(minutes=14))
    assert second.allow("lushi_handler", now + timedelta(minutes=16))
