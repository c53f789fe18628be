"""How fast one destination may be sent to: at most ``count`` messages in any window of
``per_seconds`` (a sliding window, as the robot platforms count: "20 a minute" is broken
by the 21st message within 60 s, whatever the clock minute).

Pure: the caller keeps the instants of the recent sends and asks before each one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    count: int
    per_seconds: float

    @classmethod
    def parse(cls, text: str, name: str) -> Rate:
        """``"20/60"``: 20 messages per 60 seconds. Anything else raises ValueError naming ``name``."""
        try:
            count, seconds = text.split("/")
            rate = cls(int(count), float(seconds))
        except ValueError:
            raise ValueError(f"{name} must be <messages>/<seconds>, e.g. 20/60, not {text!r}") from None
        if rate.count < 1 or rate.per_seconds <= 0:
            raise ValueError(f"{name} must allow at least one message in a positive number of seconds, not {text!r}")
        return rate


def admit(sends: Sequence[float], now: float, rate: Rate | None) -> tuple[list[float], float | None]:
    """Whether one more message may go at ``now`` (unix seconds).

    Returns the sends still inside the window (with ``now`` appended when admitted) and
    ``None`` when admitted, or the instant from which the next message may go.
    """
    if rate is None:
        return [], None
    recent = [t for t in sends if t > now - rate.per_seconds]
    if len(recent) < rate.count:
        return [*recent, now], None
    return recent, recent[-rate.count] + rate.per_seconds
