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


OnResult = Callable[[int, Result], None]


class Verdicts:
    """One Result per message of a batch, each reported to ``on_result`` the moment it is
    known. The outbox commits "sent" right then, so a worker killed in the middle of a
    batch leaves behind only the message actually in flight, not the whole batch."""

    def __init__(self, on_result: OnResult | None) -> None:
        self._results: dict[int, Result] = {}
        self._on_result = on_result

    def __setitem__(self, index: int, result: Result) -> None:
        self._results[index] = result
        if self._on_result is not None:
            self._on_result(index, result)

    def in_order(self, size: int) -> list[Result]:
        return [self._results[i] for i in range(size)]


class Channel(Protocol):
    """A way to reach people. ``send_batch`` returns one Result per message, in order,
    and reports each to ``on_result`` as soon as it is known."""

    name: str

    def send_batch(
        self, batch: Sequence[Outgoing], now: datetime, on_result: OnResult | None = None
    ) -> list[Result]: ...


def send_until_temporary(
    batch: Sequence[Outgoing], send_one: Callable[[Outgoing], Result], on_result: OnResult | None = None
) -> list[Result]:
    """Send one by one, but stop at the first temporary failure.

    For an HTTP endpoint a temporary failure (refused, timed out, 5xx, rate-limited) says
    something about the endpoint, not about the message, so the rest of the batch would
    only wait out the same timeout or burn the same rate limit. They are returned as
    temporary without being attempted; the outbox retries them with the failed one.
    Permanent failures are per message (e.g. a missing keyword) and do not stop the batch.
    """
    results = Verdicts(on_result)
    for n, msg in enumerate(batch):
        result = send_one(msg)
        results[n] = result
        if result.status == "temporary":
            skipped = Result.temporary(f"not attempted: {result.detail}")
            for rest in range(n + 1, len(batch)):
                results[rest] = skipped
            break
    return results.in_order(len(batch))
