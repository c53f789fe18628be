"""The sign-in throttle, on the ``limits`` library (fixed windows).

Two limits, both counting failed sign-ins only:

* 5 per 15 minutes for one account *from one client address*. Someone who guesses at
  another person's password from their own address locks only themselves out: the
  owner still signs in from anywhere else.
* 50 per 15 minutes from one client address, whatever the accounts: one machine cannot
  try a password against every account. (Offices behind one NAT share this count;
  50 typing mistakes in a quarter of an hour is far more than such an office makes.)

A success clears the account-and-address count. The counts live in Redis when
RECTIFY_REDIS_URL is set (``limits``' own Redis storage) and in the database otherwise
(:class:`DatabaseStorage`, a ``limits`` storage over one table), so every process that
serves sign-ins, API or form, shares them.

``limits`` supplies the windows, the Redis scripts and the key scheme; only the
database storage is ours, written against its documented Storage interface.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from limits import parse
from limits.storage import RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import case, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from app.db import Database
from app.models import ThrottleCounter

ACCOUNT_AT_ADDRESS = parse("5 per 15 minutes")
ADDRESS = parse("50 per 15 minutes")


class LoginThrottle:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.limiter = FixedWindowRateLimiter(storage)

    @staticmethod
    def _account(username: str) -> str:
        """Usernames as typed can be long or odd: the key holds a digest of the name."""
        return hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]

    def allows(self, username: str, address: str) -> bool:
        return self.limiter.test(ACCOUNT_AT_ADDRESS, "signin", self._account(username), address) and self.limiter.test(
            ADDRESS, "signin-address", address
        )

    def failed(self, username: str, address: str) -> None:
        self.limiter.hit(ACCOUNT_AT_ADDRESS, "signin", self._account(username), address)
        self.limiter.hit(ADDRESS, "signin-address", address)

    def succeeded(self, username: str, address: str) -> None:
        self.limiter.clear(ACCOUNT_AT_ADDRESS, "signin", self._account(username), address)


def login_throttle(redis_url: str | None, db: Database, clock: Callable[[], datetime]) -> LoginThrottle:
    return LoginThrottle(RedisStorage(redis_url) if redis_url else DatabaseStorage(db, clock))


class DatabaseStorage(Storage):
    """``limits`` counters in the ``throttle_counters`` table, for a deployment without
    Redis. Each increment is one INSERT … ON CONFLICT DO UPDATE, atomic on SQLite and
    PostgreSQL alike; the time is the app's clock."""

    STORAGE_SCHEME = None

    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        super().__init__()
        self.db = db
        self.clock = clock

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def _now(self) -> float:
        return self.clock().timestamp()

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = self._now()
        table = ThrottleCounter.__table__
        insert = pg_insert if self.db.engine.dialect.name == "postgresql" else sqlite_insert
        stmt = insert(table).values(key=key, count=amount, expires_at=now + expiry)
        expired = table.c.expires_at <= now
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "count": case((expired, amount), else_=table.c.count + amount),
                "expires_at": case((expired, now + expiry), else_=table.c.expires_at),
            },
        ).returning(table.c.count)
        with self.db.engine.begin() as conn:
            return conn.execute(stmt).scalar_one()

    def get(self, key: str) -> int:
        with self.db.engine.connect() as conn:
            found = conn.execute(
                select(ThrottleCounter.count).where(
                    ThrottleCounter.key == key, ThrottleCounter.expires_at > self._now()
                )
            ).scalar()
        return found or 0

    def get_expiry(self, key: str) -> float:
        with self.db.engine.connect() as conn:
            found = conn.execute(select(ThrottleCounter.expires_at).where(ThrottleCounter.key == key)).scalar()
        return found if found and found > self._now() else self._now()

    def check(self) -> bool:
        try:
            with self.db.engine.connect() as conn:
                conn.execute(select(1))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with self.db.engine.begin() as conn:
            return conn.execute(delete(ThrottleCounter)).rowcount

    def clear(self, key: str) -> None:
        with self.db.engine.begin() as conn:
            stale = (ThrottleCounter.key == key) | (ThrottleCounter.expires_at <= self._now())
            conn.execute(delete(ThrottleCounter).where(stale))  # and sweep expired counters
