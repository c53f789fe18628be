"""verify_signature, as a webhook receiver would use it."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from app.notify.webhook import verify_signature

NOW = datetime(2022, 6, 20, 1, 30, tzinfo=UTC)
TS = int(NOW.timestamp())


def _signature(secret: str, timestamp: int, body: bytes) -> str:
    """The documented scheme, written out independently of the channel's code."""
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


@given(secret=st.text(min_size=1), body=st.binary())
def test_a_signed_body_verifies_and_a_changed_one_does_not(secret, body):
    signature = _signature(secret, TS, body)

    assert verify_signature(secret, str(TS), body, signature, NOW)
    assert not verify_signature(secret, str(TS), body + b" ", signature, NOW)
    assert not verify_signature(secret + "x", str(TS), body, signature, NOW)


def test_a_str_body_is_checked_as_its_utf8_bytes():
    body = '{"subject":"整改提醒"}'

    assert verify_signature("s", TS, body, _signature("s", TS, body.encode()), NOW)


def test_timestamps_outside_the_tolerance_are_refused_both_ways():
    body = b"{}"
    for skew, ok in [(-299, True), (299, True), (-301, False), (301, False)]:
        ts = TS + skew
        assert verify_signature("s", str(ts), body, _signature("s", ts, body), NOW) is ok


def test_a_tolerance_can_be_chosen():
    ts = TS - 600
    assert verify_signature("s", ts, b"{}", _signature("s", ts, b"{}"), NOW, tolerance_s=900)
    assert not verify_signature("s", ts, b"{}", _signature("s", ts, b"{}"), NOW + timedelta(hours=1), tolerance_s=900)


def test_garbage_headers_are_refused_not_raised():
    assert not verify_signature("s", "yesterday", b"{}", "sha256=00", NOW)
    assert not verify_signature("s", str(TS), b"{}", "sha256=签名", NOW)
    assert not verify_signature("s", str(TS), b"{}", "", NOW)
