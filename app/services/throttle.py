"""Login throttling: after too many failures a username is refused for a while.

In-process memory here; a shared (Redis) store can replace ``_failures`` when several
processes serve logins.
"""

from __future__ import annotations

import threading
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
            return len(self._recent(key, now)) < self.max_failures

    def fail(self, key: str, now: datetime) -> None:
        with self._lock:
            self._recent(key, now).append(now)
