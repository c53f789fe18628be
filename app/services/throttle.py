"""Login throttling: after too many failures a username is refused for a while.

In-process memory for the embedded mode; Redis (when RECTIFY_REDIS_URL is set) so that
several processes share one count.
"""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict, deque
from datetime import datetime, timedelta


class LoginThrottle:
    def __init__(self, max_failures: int = 5, window: timedelta = timedelta(minutes=15)) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[str, deque[datetime]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        q = self._failures[key.lower()]
        while q and now - q[0] > self.window:
            q.popleft()
        return q

    def allow(self, key: str, now: datetime) -> bool:
        with self._lock:
            if key.lower() not in self._failures:  # never add an entry for a mere attempt
                return True
            recent = self._recent(key, now)
            if not recent:
                del self._failures[key.lower()]
            return len(recent) < self.max_failures

    def fail(self, key: str, now: datetime) -> None:
        with self._lock:
            self._recent(key, now).append(now)


class RedisLoginThrottle:
    """The same rule kept in Redis, so every web process (gunicorn workers, several
    machines) shares one count of failures per username."""

    def __init__(self, url: str, max_failures: int = 5, window: timedelta = timedelta(minutes=15)) -> None:
        import redis

        self.redis = redis.Redis.from_url(url)
        self.max_failures = max_failures
        self.window = window

    def _key(self, key: str) -> str:
        return f"rectify:login-failures:{key.lower()}"

    def allow(self, key: str, now: datetime) -> bool:
        k = self._key(key)
        self.redis.zremrangebyscore(k, "-inf", (now - self.window).timestamp())
        return self.redis.zcard(k) < self.max_failures

    def fail(self, key: str, now: datetime) -> None:
        k = self._key(key)
        pipe = self.redis.pipeline()
        pipe.zadd(k, {uuid.uuid4().hex: now.timestamp()})
        pipe.expire(k, int(self.window.total_seconds()) + 60)
        pipe.execute()
