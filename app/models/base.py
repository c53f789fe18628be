"""Declarative base, naming conventions and the UTC timestamp type."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Date, DateTime, MetaData
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Aware UTC in Python, ``timestamptz`` on PostgreSQL, naive UTC text on SQLite.

    Refuses naive datetimes so a local time can never be stored by mistake.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware UTC instant is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class china_day(FunctionElement):
    """The China calendar date of a stored instant, computed by the database (China keeps
    UTC+8 all year), so figures can be grouped by the day people lived it."""

    type = Date()
    inherit_cache = True


@compiles(china_day, "postgresql")
def _china_day_pg(element, compiler, **kw):
    return f"CAST(({compiler.process(element.clauses, **kw)} AT TIME ZONE 'Asia/Shanghai') AS DATE)"


@compiles(china_day, "sqlite")
def _china_day_sqlite(element, compiler, **kw):
    return f"DATE({compiler.process(element.clauses, **kw)}, '+8 hours')"


class far_future(FunctionElement):
    """The last second of 9999 (UTC) as each database stores an instant: where a list
    orders by deadline, a task without one comes after every dated task (Task.due_sort)."""

    type = UTCDateTime()
    inherit_cache = True


@compiles(far_future, "postgresql")
def _far_future_pg(element, compiler, **kw):
    return "'9999-12-31 23:59:59+00'::timestamptz"


@compiles(far_future, "sqlite")
def _far_future_sqlite(element, compiler, **kw):
    return "'9999-12-31 23:59:59.000000'"  # UTCDateTime's text on SQLite, so it compares as one


def utcnow() -> datetime:
    """Row-creation default only; business logic receives ``now`` from its caller."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
