"""The embedded tick adds up its delivery reports field by field as the dataclass declares
them (app.jobs._add_up), so a field added to DeliveryReport is counted without anyone
remembering to list it."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import pytest

from app.jobs import _add_up
from app.services.delivery import DeliveryReport


def test_every_field_of_a_delivery_report_is_added_up():
    part = DeliveryReport()
    for i, f in enumerate(fields(DeliveryReport), start=1):
        setattr(part, f.name, [i, i + 100] if isinstance(getattr(part, f.name), list) else i)
    total = DeliveryReport()
    _add_up(total, part)
    _add_up(total, part)
    for i, f in enumerate(fields(DeliveryReport), start=1):
        want = [i, i + 100, i, i + 100] if isinstance(getattr(part, f.name), list) else 2 * i
        assert getattr(total, f.name) == want, f.name


@dataclass
class _Grown:
    claimed: int = 0
    bounced: int = 0  # a field nobody listed anywhere
    ids: list[int] = field(default_factory=list)


@dataclass
class _Noted:
    sent: int = 0
    note: str = ""  # no rule adds up words


def test_a_new_count_is_added_and_a_field_without_a_rule_is_refused():
    total = _Grown()
    _add_up(total, _Grown(claimed=2, bounced=3, ids=[7]))
    assert (total.claimed, total.bounced, total.ids) == (2, 3, [7])
    with pytest.raises(TypeError, match=r"_Noted\.note"):
        _add_up(_Noted(note="a"), _Noted(note="b"))
