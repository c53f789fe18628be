"""A generic signed webhook, for a provincial platform or anything else that listens.

The body is JSON ``{"key", "subject", "text", "data", "sent_at"}``. The receiver checks
``X-Rectify-Signature: sha256=<hex hmac_sha256(secret, f"{timestamp}.{body}")>`` with
``X-Rectify-Timestamp`` (unix seconds). Signing the timestamp together with the body
and refusing old timestamps stops a captured request from being replayed later;
``key`` (also sent as ``Idempotency-Key``) lets the receiver drop our own retries.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from app.notify import _http
from app.notify.base import OneByOne, Outgoing, Result

SIGNATURE_PREFIX = "sha256="


def _signature(secret: str, timestamp: int | str, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str, timestamp: str | int, body: bytes | str, signature: str, now: datetime, tolerance_s: int = 300
) -> bool:
    """For receivers: is this request ours, unaltered and recent?

    ``timestamp`` and ``signature`` are the header values as received, ``body`` the raw
    request body (the exact bytes: re-serialised JSON will not match). A timestamp more
    than ``tolerance_s`` away from ``now`` in either direction is refused, so a captured
    request cannot be replayed later. The comparison is constant-time.
    """
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(now.timestamp() - sent_at) > tolerance_s:
        return False
    raw = body.encode() if isinstance(body, str) else body
    return hmac.compare_digest(_signature(secret, sent_at, raw).encode(), signature.encode())


class WebhookChannel(OneByOne):
    name = "webhook"

    def __init__(self, url: str, secret: str, timeout: float = 10) -> None:
        self.url = url
        self.secret = secret
        self.timeout = timeout

    def send_one(self, msg: Outgoing, now: datetime) -> Result:
        payload = {
            "key": msg.key,
            "subject": msg.subject,
            "text": msg.text,
            "data": msg.data,
            "sent_at": now.isoformat(),
        }
        try:
            body = _http.dumps(payload)
        except (TypeError, ValueError) as err:
            return Result.permanent(f"data is not JSON: {err}")
        timestamp = int(now.timestamp())
        headers = {
            "X-Rectify-Timestamp": str(timestamp),
            "X-Rectify-Signature": _signature(self.secret, timestamp, body),
            "Idempotency-Key": msg.key,
        }
        reply = _http.post(self.url, body, headers, self.timeout)
        if isinstance(reply, Result):
            return reply
        return _http.classify_status(reply.status) or Result.sent(f"HTTP {reply.status}")
