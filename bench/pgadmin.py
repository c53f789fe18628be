"""Creating and dropping the benchmarks' own PostgreSQL databases."""

from __future__ import annotations

from sqlalchemy import create_engine, text


def pg_url(admin_url: str, name: str) -> str:
    """The URL of database ``name`` on the server ``admin_url`` points at."""
    return admin_url.rsplit("/", 1)[0] + "/" + name


def admin_sql(admin_url: str, sql: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE need that)."""
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()
