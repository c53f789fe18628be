"""Subject, plain text and HTML for each kind of notification, in Chinese or English.

``render(kind, context, lang)`` reads ``templates/notify/<lang>/<kind>.txt`` (which sets
``subject`` at the top and is the plain-text body) and ``<kind>.html`` (autoescaped:
titles are typed by users and end up in mail clients; found in ``<lang>/`` or, when it
has no wording of its own, in ``shared/``). Robots and webhooks use the text.

Dates are shown as the China calendar date of the instant (``2022年6月20日`` /
``20 June 2022``): a deadline is stored as the end of its day in China time, which is
the previous day in UTC, so formatting the UTC date would be a day early.

Context keys per kind (datetimes must be timezone-aware; ``url`` links to the item;
``name``, the recipient's name, is optional everywhere and opens the message; an
optional key that is empty counts as absent):

``reminder``    an item due soon. ``title``, ``unit`` (responsible unit), ``due_at``,
                ``days`` (whole days left; 0 means due today), ``url``; optional
                ``deadline_text`` (the deadline as the notice wrote it, e.g. 「6月20日前」).
``escalation``  an overdue item climbing the ladder. ``title``, ``unit``, ``due_at``,
                ``days`` (days overdue, ≥ 1), ``level`` (1 handler and deputy in charge,
                2 head of unit, 3 supervising unit), ``url``.
``daily``       a 立行立改 item, reminded every day until done. ``title``, ``unit``,
                ``days`` (whole days since it was assigned; 0 on the first day), ``url``.
``digest``      one message listing many items for one person. ``items`` (a list, shown
                in the order given, each with ``title``, ``unit``, ``due_at`` (None for
                立行立改), ``state`` (a task state such as ``in_progress``) and
                ``overdue_days`` (0 when not overdue)), ``url`` (the person's list).
``notice_list`` the day's 通报 list for one issuing unit's supervisors. ``issuer`` (the
                unit's name), ``items`` (a list, shown in the order given, each with
                ``title``, ``unit``, ``due_at`` and ``overdue_days``), ``url`` (the list
                of red tasks).
KINDS = ("reminder", "escalation", "daily", "digest", "notice_list", "obligation", "event", "summary")
``obligation``  a report (报送) a unit owes. ``title`` (the report, e.g. 「整改情况报告」),
                ``unit`` (who owes it), ``due_at``, ``days`` (days left; 0 today;
                negative when the report is already late), ``url``; optional
                ``supervisor`` (the unit it is submitted to).

A missing key is an error (StrictUndefined), not a blank in a message to an official.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from functools import cache, partial
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from app.domain.deadlines import CHINA
from app.domain.workflow import STATE_LABELS, State

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "notify"
KINDS = ("reminder", "escalation", "daily", "digest", "notice_list", "obligation", "event", "summary")
LANGS = ("zh", "en")

_STATE_NAMES = {
    "zh": {state.value: label for state, label in STATE_LABELS.items()},
    "en": {
        State.IDENTIFIED.value: "on the books",
        State.IN_PROGRESS.value: "in progress",
        State.RECTIFIED.value: "rectified, awaiting check",
        State.VERIFIED.value: "verified",
        State.CLOSED.value: "closed",
    },
}
_EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def china_date(moment: datetime, lang: str = "zh") -> str:
    """The China calendar date of an aware instant: 2022年6月20日 / 20 June 2022."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: pass an aware UTC datetime")
    return format_day(moment.astimezone(CHINA).date(), lang)


def format_day(day: date, lang: str = "zh") -> str:
    """A calendar date as people write it: 2022年6月20日 / 20 June 2022."""
    if lang == "zh":
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {_EN_MONTHS[day.month - 1]} {day.year}"


@cache
def _environment(lang: str) -> Environment:
    env = Environment(
        # the language's own templates first; shared/ holds those with no words of their own
        # (an event's HTML shows what its .txt worded, in the language's layout)
        loader=FileSystemLoader([TEMPLATE_DIR / lang, TEMPLATE_DIR / "shared"]),
        autoescape=select_autoescape(["html"], default_for_string=False, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates ship with the code: no stat() of the file at every message
    )
    env.filters["day"] = partial(china_date, lang=lang)
    env.filters["state"] = _STATE_NAMES[lang].__getitem__
    return env


def render(kind: str, context: Mapping[str, Any], lang: str = "zh", html: bool = True) -> tuple[str, str, str]:
    """Return ``(subject, text, html)`` for one notification (``html`` False: no HTML, an
    empty string, for an in-app message that never needs it)."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}; expected one of {KINDS}")
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; expected one of {LANGS}")
    env = _environment(lang)
    text_module = env.get_template(f"{kind}.txt").make_module(dict(context))
    subject = " ".join(str(text_module.subject).split())  # one line: it becomes a mail header
    text = str(text_module).strip() + "\n"
    # what the text template sets (e.g. an event's lead and fields) the HTML shows too: worded once
    if not html:
        return subject, text, ""
    exported = {k: v for k, v in vars(text_module).items() if not k.startswith("_")}
    return subject, text, env.get_template(f"{kind}.html").render({**context, **exported, "subject": subject})
