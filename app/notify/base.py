"""What every channel speaks: one message in, one verdict out.

The outbox (elsewhere) owns retries and bookkeeping, so a channel must never raise for a
delivery problem: it answers with a :class:`Result` the outbox can store.

* ``sent``: the far end took it.
* ``temporary``: not taken; try this row again later (a 4xx, the far end down or refusing
  connections). ``stop`` says the trouble is the far end's, not this message's, so the
  rest of the batch is not tried now.
* ``permanent``: this message will never go through as it is (no address, a mailbox that
  does not exist, a payload the far end rejects).
* ``unknown``: handed over, but no answer came in time: the far end may have taken it.
  Retried (same Message-ID, same idempotency key) at most once more.
* ``limited``: the platform says this destination sends too fast; nothing is wrong
  with the message. ``retry_after`` is how long the platform blocks it.
* ``untried``: never handed over (the batch stopped before it); uses no attempt.
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
    markdown: str | None = None  # for group robots; made from subject and text when absent
    # e-mail: the others the very same message goes to, (key, name, address) each, one
    # outbox row apiece (an item's step to the several people of its unit: one mail)
    also: tuple[tuple[str, str, str], ...] = ()
    # e-mail: what the Message-ID is made from, if not the key: the step's message, which
    # every copy of it carries, to whomever and however a retry addresses it
    message_key: str = ""

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.key, *(key for key, _, _ in self.also))


@dataclass(frozen=True)
class Result:
    status: Literal["sent", "temporary", "permanent", "unknown", "limited", "untried"]
    detail: str = ""
    stop: bool = False  # the far end is in trouble: do not try the rest of the batch now
    retry_after: float | None = None  # limited: seconds the platform blocks the destination
    # a message to several recipients (Outgoing.also) whose verdicts differ (a refused
    # recipient): one Result per recipient, in the message's order; None: this one for all
    each: tuple[Result, ...] | None = None

    def of(self, j: int) -> Result:
        """The verdict for the message's ``j``-th recipient."""
        return self.each[j] if self.each is not None else self

    @classmethod
    def sent(cls, detail: str = "") -> Result:
        return cls("sent", detail)

    @classmethod
    def temporary(cls, detail: str, stop: bool = False) -> Result:
        return cls("temporary", detail, stop)

    @classmethod
    def permanent(cls, detail: str) -> Result:
        return cls("permanent", detail)

    @classmethod
    def unknown(cls, detail: str) -> Result:
        return cls("unknown", detail, stop=True)

    @classmethod
    def limited(cls, detail: str, retry_after: float) -> Result:
        return cls("limited", detail, stop=True, retry_after=retry_after)

    @classmethod
    def untried(cls, detail: str) -> Result:
        return cls("untried", detail)


OnResult = Callable[[int, Result], None]
# Asked before message i is handed over; a reason (str) holds it and the rest back.
BeforeEach = Callable[[int], "str | None"]
# What a channel's send_one calls at the last moment before the hand-over (the final
# dot of SMTP's DATA, an HTTP request): None to go on, or the reason to hold it back.
Clear = Callable[[], "str | None"]


class Gate:
    """``before_each`` for message ``i``, asked once. If the hook has a ``start(i)`` (the
    outbox's in-flight mark, which waits on a database commit) it is begun at once, so a
    channel can do what precedes the hand-over (SMTP's MAIL, RCPT and DATA) while the
    commit is on its way; calling the gate waits for the answer. Nothing is handed over
    before the answer is in."""

    def __init__(self, before_each: BeforeEach | None, i: int) -> None:
        self._hook, self._i, self._asked = before_each, i, False
        self.reason: str | None = None
        start = getattr(before_each, "start", None)
        if start is not None:
            start(i)

    def __call__(self) -> str | None:
        if not self._asked:
            self._asked = True
            self.reason = self._hook(self._i) if self._hook is not None else None
        return self.reason


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
    reports each to ``on_result`` as soon as it is known, and asks ``before_each`` (if
    given) before handing each message over."""

    name: str

    def send_batch(
        self,
        batch: Sequence[Outgoing],
        now: datetime,
        on_result: OnResult | None = None,
        before_each: BeforeEach | None = None,
    ) -> list[Result]: ...


def send_each(
    batch: Sequence[Outgoing],
    send_one: Callable[[Outgoing, Clear], Result],
    on_result: OnResult | None = None,
    before_each: BeforeEach | None = None,
) -> list[Result]:
    """Send one by one, each through its :class:`Gate` (``send_one(msg, clear)`` hands
    ``msg`` over only once ``clear()`` answered None, and answers ``untried`` otherwise),
    and stop at the first result that says the far end is in trouble (``stop``): the rest
    would only wait out the same timeout or burn the same rate limit. What is not handed
    over is ``untried``; the outbox retries it later without counting an attempt.
    Per-message failures (a refused recipient, a missing keyword) do not stop the batch."""
    results = Verdicts(on_result)
    n, held = 0, ""
    while n < len(batch):
        gate = Gate(before_each, n)
        result = send_one(batch[n], gate)
        why = gate()  # asked even when nothing was to be handed over (no address): the hook sees each message
        if why is not None:  # then nothing was handed over
            held = why
            break
        results[n] = result
        n += 1
        if result.stop:
            held = f"not attempted: {result.detail}"
            break
    for rest in range(n, len(batch)):
        results[rest] = Result.untried(held)
    return results.in_order(len(batch))


class OneByOne:
    """A channel that posts each message on its own (the robots, the webhook): its
    ``send_batch`` is :func:`send_each` over its ``send_one``, asked before each post."""

    def send_one(self, msg: Outgoing, now: datetime) -> Result:
        raise NotImplementedError

    def send_batch(
        self,
        batch: Sequence[Outgoing],
        now: datetime,
        on_result: OnResult | None = None,
        before_each: BeforeEach | None = None,
    ) -> list[Result]:
        def post(msg: Outgoing, clear: Clear) -> Result:
            why = clear()
            return Result.untried(why) if why is not None else self.send_one(msg, now)

        return send_each(batch, post, on_result, before_each)
