"""What every channel speaks: one message in, one verdict out.

The outbox (elsewhere) owns retries and bookkeeping, so a channel must never raise for a
delivery problem: it answers with a :class:`Result` the outbox can store. ``temporary``
means "try this row again later" (the far end is down, slow, rate-limiting or not
configured right yet); ``permanent`` means "this message will never go through as it is"
(no address, a mailbox that does not exist, a payload the far end rejects).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class Outgoing:
    """One rendered notification for one recipient, as the outbox row describes it.

    ``key`` is the outbox row's unique key. Channels pass it on (Message-ID, webhook
    ``key`` and ``Idempotency-Key``) so that a retried row can be recognised downstream
    as the same message rather than a new one.
    """

    key: str
    to_name: str
    to_email: str | None
    to_mobile: str | None
    subject: str
    text: str
    html: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class Result:
    status: Literal["sent", "temporary", "permanent"]
    detail: str = ""

    @classmethod
    def sent(cls, detail: str = "") -> Result:
        return cls("sent", detail)

    @classmethod
    def temporary(cls, detail: str) -> Result:
        return cls("temporary", detail)

    @classmethod
    def permanent(cls, detail: str) -> Result:
        return cls("permanent", detail)


class Channel(Protocol):
    """A way to reach people. ``send_batch`` returns one Result per message, in order."""

    name: str

    def send_batch(self, batch: Sequence[Outgoing], now: datetime) -> list[Result]: ...


def send_until_temporary(batch: Sequence[Outgoing], send_one: Callable[[Outgoing], Result]) -> list[Result]:
    """Send one by one, but stop at the first temporary failure.

    For an HTTP endpoint a temporary failure (refused, timed out, 5xx, rate-limited) says
    something about the endpoint, not about the message, so the rest of the batch would
    only wait out the same timeout or burn the same rate limit. They are returned as
    temporary without being attempted; the outbox retries them with the failed one.
    Permanent failures are per message (e.g. a missing keyword) and do not stop the batch.
    """
    results: list[Result] = []
    for msg in batch:
        result = send_one(msg)
        results.append(result)
        if result.status == "temporary":
            skipped = Result.temporary(f"not attempted: {result.detail}")
            results.extend(skipped for _ in range(len(batch) - len(results)))
            break
    return results
