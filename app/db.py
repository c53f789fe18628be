"""Engine and session handling.

One ``Database`` object per app. Web requests and service calls share a scoped session
(one per thread); services own the transaction through :func:`Database.transaction`, so
a use case either commits whole or leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import any_, bindparam, create_engine, event
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session, sessionmaker


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    """WAL lets readers run beside the writer; busy_timeout makes writers queue, not fail.

    pysqlite's own implicit BEGIN is switched off so that :func:`_sqlite_begin` decides.
    """
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn) -> None:
    """A writing transaction takes the write lock up front (BEGIN IMMEDIATE): otherwise two
    writers that both read first deadlock on the upgrade and one fails with "locked"
    instead of queueing and then seeing the other's change."""
    immediate = conn.get_execution_options().get("sqlite_immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 60})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


# session.info key set while a Database.transaction block runs on that session
_IN_BLOCK = "in_transaction_block"


class NestedTransaction(RuntimeError):
    """A transaction block was opened inside another one (a programming error, not input)."""


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        # what outbox rows written inside a service need from the app's settings (see
        # app.services.events): filled by create_app, carried by every session as info["outbox"]
        self.outbox: dict = {}
        self.session = scoped_session(
            sessionmaker(bind=self.engine, expire_on_commit=False, info={"outbox": self.outbox})
        )

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Commit on success, roll back on any error; the session is the request's own.

        A block inside another block is refused (:class:`NestedTransaction`): committing
        here would commit the outer use case half done. What is ended here is only a read
        snapshot a view left open before calling the service; views never write."""
        s = self.session()
        if s.info.get(_IN_BLOCK):
            raise NestedTransaction(
                "Database.transaction() was entered inside another transaction block; "
                "call the inner use case's helper that takes the session instead"
            )
        if s.in_transaction():
            s.commit()  # end a read snapshot left open by the caller
        if self.is_sqlite:
            s.connection(execution_options={"sqlite_immediate": True})
        s.info[_IN_BLOCK] = True
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.info.pop(_IN_BLOCK, None)

    @contextmanager
    def statements(self) -> Iterator[list[str]]:
        """The SQL statements sent to the database while the block runs (tests and benches
        count them: a page must cost the same number of queries whatever the plan's size)."""
        sent: list[str] = []

        def record(_conn, _cursor, statement, _params, _context, _many) -> None:
            sent.append(statement)

        event.listen(self.engine, "before_cursor_execute", record)
        try:
            yield sent
        finally:
            event.remove(self.engine, "before_cursor_execute", record)

    def remove(self) -> None:
        self.session.remove()

    def dispose(self) -> None:
        self.session.remove()
        self.engine.dispose()


def on_sqlite(s: Session) -> bool:
    """Whether a session's statements go to SQLite (see :attr:`Database.is_sqlite`)."""
    return s.get_bind().dialect.name == "sqlite"


def ids_among(column, values: Iterable, sqlite: bool):
    """``column IN values``; on PostgreSQL ``= ANY(array)``, one parameter, so the
    statement's text is the same whatever the number of values (psycopg prepares it
    after a few runs) instead of a placeholder per value rendered, cast and parsed at
    every run (thousands, for the rows a sweep's notices fold)."""
    if sqlite:
        return column.in_(list(values))
    return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))


def copy_rows(s: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    """``COPY table (columns) FROM STDIN`` of ``rows`` (values in ``columns`` order: JSON as
    its text) inside the session's transaction; PostgreSQL only. COPY is PostgreSQL's fast
    way in for a large batch: one stream instead of a statement (or bound values) per row,
    with every constraint, index and trigger applied as for an INSERT."""
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with s.connection().connection.driver_connection.cursor() as cur, cur.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)
