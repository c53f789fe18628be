"""The layers keep to their own language: transactions, clocks and outbox rows."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select

from app.db import NestedTransaction
from app.models import User


def _full_name(db_url: str, username: str) -> str:
    """Read through a connection of its own, as another process would."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.scalar(select(User.full_name).where(User.username == username))
    finally:
        engine.dispose()


def test_a_transaction_opened_inside_another_is_refused_and_the_outer_writes_are_not_committed(rt, db_url):
    user = rt.db.session().scalars(select(User).order_by(User.id)).first()
    before = _full_name(db_url, user.username)
    with pytest.raises(NestedTransaction, match="inside another transaction block"), rt.db.transaction() as s:
        s.get(User, user.id).full_name = "half done"
        s.flush()
        with rt.db.transaction():
            pass
    assert _full_name(db_url, user.username) == before
    # the refusal leaves the session usable: the next use case commits as usual
    with rt.db.transaction() as s:
        s.get(User, user.id).full_name = "whole"
    assert _full_name(db_url, user.username) == "whole"


def test_a_read_snapshot_left_open_by_a_view_is_ended_before_a_use_case(rt, db_url):
    s = rt.db.session()
    user = s.scalars(select(User).order_by(User.id)).first()
    assert s.in_transaction()
    with rt.db.transaction() as s:
        s.get(User, user.id).full_name = "after a read"
    assert _full_name(db_url, user.username) == "after a read"
