"""The record anyone can check: how a history event is hashed into its task's chain, and
how a document's chain head is made from the tasks it covers. Pure: no database, no clock.

**A link.** Each history event (``task_events`` row) stores ``chain_alg``, ``chain_prev``
and ``chain_hash``. ``chain_hash`` is ``H(canonical(event, evidence, prev))`` where
``canonical`` is the event as sorted-key JSON, UTF-8, no spaces, non-ASCII kept
(``json.dumps(sort_keys=True, ensure_ascii=False, separators=(",", ":"))``) of exactly:

* the stored fields ``task_id, seq, kind, from_state, to_state, actor_id, comment, data``
  as stored (``data`` the JSON object; NULL as ``null``), and ``at`` as UTC ISO 8601
  with microseconds and ``Z`` (``2022-06-09T01:00:00.000000Z``);
* ``evidence``: the files attached to the event, in id order, each
  ``{"id", "name", "size", "sha256"}`` (the original file name, its size in bytes and
  the hex SHA-256 of its content as recorded at upload);
* ``prev``: the previous event's ``chain_hash`` in the same task (seq − 1), ``""`` for
  seq 1. ``chain_prev`` stores it too, so a broken link is told apart from changed fields.

``H`` is SM3 (GB/T 32905, OpenSSL 3 through ``hashlib.new("sm3")``), or SHA-256 where
that Python has no SM3; each link records its own algorithm, so a chain checks whatever
machine wrote which link.

**Per task, not global.** A task's events form one chain (prev = the task's last link).
Writers of a task are already serialised by the unique ``(task_id, seq)`` that their
``max(seq)`` lookup feeds, so chaining adds no lock; a global chain would put every
writer — the sweep's batches, a 15,000-row import, each user's step — behind one tip.

**A head.** A document covering some tasks "as of" an instant prints
``H(lines)`` over its tasks in id order, one line per task that had an event by then:
``"<task_id> <seq> <alg>:<chain_hash>\\n"`` of the task's latest event stamped at or
before that instant (seq = how many links it covers). Anyone with the database can
recompute it for the same scope and instant (``flask verify-history --head``); a change
to any covered event, its evidence digests, a deletion or an insertion changes it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import NamedTuple

SM3, SHA256 = "sm3", "sha256"
EVENT_FIELDS = ("task_id", "seq", "kind", "from_state", "to_state", "actor_id", "at", "comment", "data")


def available(algorithm: str) -> bool:
    try:
        hashlib.new(algorithm)
    except ValueError:
        return False
    return True


ALGORITHM = SM3 if available(SM3) else SHA256  # what this machine writes


@lru_cache(maxsize=4)
def _blank(algorithm: str):
    return hashlib.new(algorithm)


def digest(algorithm: str, data: bytes) -> str:
    """Hex digest; ValueError when this Python lacks ``algorithm``. (A fresh hasher is
    copied, not looked up by name: OpenSSL's lookup costs more than hashing an event.)"""
    h = _blank(algorithm).copy()
    h.update(data)
    return h.hexdigest()


@lru_cache(maxsize=64)  # a batch of events shares its instant
def instant(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def canonical(event: Mapping, evidence: Sequence[Mapping], prev: str | None) -> bytes:
    """The bytes a link's hash covers (see the module docstring)."""
    body = {k: event[k] for k in EVENT_FIELDS}
    body["at"] = instant(event["at"])
    body["evidence"] = [
        {"id": e["id"], "name": e["name"], "size": e["size"], "sha256": e["sha256"]}
        for e in sorted(evidence, key=lambda e: e["id"])
    ]
    body["prev"] = prev or ""
    return _JSON.encode(body).encode()


def link_hash(algorithm: str, event: Mapping, evidence: Sequence[Mapping], prev: str | None) -> str:
    return digest(algorithm, canonical(event, evidence, prev))


class Tip(NamedTuple):
    """A task's latest link as of some instant."""

    task_id: int
    seq: int
    algorithm: str
    hash: str


class Head:
    """A head hashed tip by tip in task id order, so that a document covering 100,000
    tasks holds one line at a time, not the tasks' tips: ``tasks`` and ``events`` count
    what it covers."""

    def __init__(self, algorithm: str) -> None:
        self._hasher = _blank(algorithm).copy()
        self._last = 0
        self.tasks = self.events = 0

    def add(self, task_id: int, seq: int, algorithm: str, link: str) -> None:
        if task_id <= self._last:
            raise ValueError(f"tips out of task id order: {task_id} after {self._last}")
        self._hasher.update(f"{task_id} {seq} {algorithm}:{link}\n".encode())
        self._last = task_id
        self.tasks += 1
        self.events += seq

    def hexdigest(self) -> str:
        return self._hasher.hexdigest()
