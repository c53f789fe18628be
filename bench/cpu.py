"""CPU seconds spent by processes, read from /proc (Linux), so a bench can say where a
figure's time went: in the code under test, the database server or the peer it talks to.

On a host without /proc every reading is None and the benches print no CPU line."""

from __future__ import annotations

import os
import resource
from pathlib import Path

_PROC = Path("/proc")
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: str) -> tuple[str, int, float] | None:
    """(command name, parent pid, user + system seconds) of one process, if it still runs."""
    try:
        text = (_PROC / pid / "stat").read_text()
    except OSError:
        return None
    name, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
    return name, int(rest[1]), (int(rest[11]) + int(rest[12])) / _TICK


def _table() -> dict[int, tuple[str, int, float]]:
    table = {}
    for entry in _PROC.iterdir() if _PROC.is_dir() else ():
        if entry.name.isdigit() and (stat := _stat(entry.name)) is not None:
            table[int(entry.name)] = stat
    return table


def tree(pid: int) -> float | None:
    """CPU seconds of process ``pid`` and every process under it (a Celery worker's pool)."""
    table = _table()
    if pid not in table:
        return None
    children: dict[int, list[int]] = {}
    for p, (_, parent, _) in table.items():
        children.setdefault(parent, []).append(p)
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += table[p][2]
        todo.extend(children.get(p, ()))
    return total


def named(name: str) -> float | None:
    """CPU seconds of every process called ``name`` (``postgres``: the server's backends,
    its WAL writer and checkpointer)."""
    table = _table()
    return sum(cpu for n, _, cpu in table.values() if n == name) if table else None


def own() -> float:
    """CPU seconds of this process, every thread (a bench's in-process mail server)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
