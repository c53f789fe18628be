"""Subject, plain text and HTML for each kind of notification, in Chinese or English.

``render(kind, context, lang)`` reads ``templates/notify/<lang>/<kind>.txt`` (which sets
``subject`` at the top and is the plain-text body) and ``<kind>.html`` (found in
``<lang>/`` or, when it has no wording of its own, in ``shared/``); mail uses both,
webhooks the text. ``render_markdown`` renders the same .txt as markdown for the group
robots (WeCom, DingTalk).

User text cannot carry links, by construction: every string in the context is escaped
for the format before any template sees it, so ``{{ … }}`` and strings a template builds
with ``~`` in ``{% set %}`` alike carry only escaped text, and no template can forget it.
Left as they are: the app's own links (every ``url`` key, as :class:`Link`) and codes
(lowercase identifiers such as an event kind or a state, which cannot carry markup).

* every format: a link in user text is defanged (``http://x`` → ``http[:]//x``,
  ``www.x`` → ``www[.]x``) so no mail client or chat app turns it into a live link;
* html: autoescaped besides;
* markdown: the characters that make links, images, HTML tags and WeCom's
  ``<@mention>``/``<font>`` (``[ ] ( ) < >``) become their full-width forms, so the
  safety does not depend on a robot honouring backslash escapes; emphasis, code and
  headings (backslash, ``` ` * _ ~ # | ```) are backslash-escaped, line breaks folded.

The one live link is ``url``, which the app builds itself: it is passed as :class:`Link`
and left as it is.

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
``escalation_notice`` one person's overdue items escalated by one sweep (督办), in one
                message. ``items`` (a list, shown in the order given, each with ``title``,
                ``unit``, ``due_at``, ``overdue_days`` and ``level`` (1–3, as for
                ``escalation``)), ``url`` (the person's list of overdue items).
``ack``         a task not yet acknowledged (签收). ``title``, ``unit``, ``due_at`` (the
                last day to acknowledge), ``days`` (days left; 0 today; negative once
                late), ``level`` (0 a reminder; 1 the handler, 2 the head, 3 the issuing
                unit), ``url``.
``obligation``  a report (报送) a unit owes. ``title`` (the report, e.g. 「整改情况报告」),
                ``unit`` (who owes it), ``due_at``, ``days`` (days left; 0 today;
                negative when the report is already late), ``url``; optional
                ``supervisor`` (the unit it is submitted to).

``lookback``    a look-back (回头看) the issuing side owes on a closed task. ``title``
                (the task's problem), ``unit`` (the unit whose task is looked at),
                ``due_at``, ``days`` (days left; 0 today; negative when late), ``url``.

A missing key is an error (StrictUndefined), not a blank in a message to an official.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from functools import cache, partial
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from app.domain.deadlines import CHINA
from app.domain.workflow import STATE_LABELS, State

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "notify"
KINDS = (
    "reminder",
    "escalation",
    "daily",
    "digest",
    "notice_list",
    "obligation",
    "lookback",
    "ack",
    "event",
    "summary",
    "escalation_notice",
)
LANGS = ("zh", "en")

_STATE_NAMES = {
    "zh": {state.value: label for state, label in STATE_LABELS.items()},
    "en": {
        State.IDENTIFIED.value: "on the books",
        State.IN_PROGRESS.value: "in progress",
        State.RECTIFIED.value: "rectified, awaiting check",
        State.VERIFIED.value: "verified",
        State.CLOSED.value: "closed",
        State.WITHDRAWN.value: "withdrawn",
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


class Link(str):
    """A URL the application built (``url``): the one thing a message may link to."""


_LINKISH = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]{0,30}):(?=//)|\b(www)\.(?=\S)")
_MD_FULLWIDTH = str.maketrans({"[": "［", "]": "］", "(": "（", ")": "）", "<": "＜", ">": "＞"})
_MD_SPECIAL = re.compile(r"([\\`*_~#|])")
_URL = re.compile(r"(https?://\S+)")
_MD_LINE_START = re.compile(r"^(\s*)([-+=]|\d+(?=[.)]))")


def defang(text: str) -> str:
    """User text with its links made inert: ``http[:]//…``, ``www[.]…``."""
    return _LINKISH.sub(lambda m: f"{m[1]}[:]" if m[1] else f"{m[2]}[.]", text)


def escape_markdown(text: str) -> str:
    """User text as markdown that shows exactly the text: no link, image, tag, mention,
    emphasis, heading or list can come out of it."""
    return _escape_md(defang(text))


def _escape_md(text: str) -> str:
    text = " ".join(text.splitlines())
    text = _MD_SPECIAL.sub(r"\\\1", text.translate(_MD_FULLWIDTH))
    # a list marker at the start: "\\- x", "1\\. x" (a backslash before a digit is not an escape)
    return _MD_LINE_START.sub(lambda m: m[1] + (m[2] + "\\" if m[2][0].isdigit() else "\\" + m[2]), text)


def markdown_of(subject: str, text: str) -> str:
    """A robot message from a plain subject and text that were rendered (or defanged)
    already: the links left in them are the app's own and stay; the rest is escaped."""

    def line(text: str) -> str:
        return "".join(p if _URL.fullmatch(p) else _escape_md(p) for p in _URL.split(text))

    body = "".join(line(t) + "\n" for t in text.splitlines())
    return f"### {line(subject)}\n{body}"


_CODE = re.compile(r"[a-z_]+")


def _escaped(value: Any, escape: Callable[[str], str], key: str = "") -> Any:
    """``value`` with every string escaped, every ``url`` made the app's :class:`Link`."""
    kind = type(value)  # the common types first, by identity (a message has dozens of values)
    if kind is str:
        if key == "url":
            return Link(value)
        return value if _CODE.fullmatch(value) else escape(value)
    if kind is dict:
        return {k: _escaped(v, escape, k) for k, v in value.items()}
    if kind is int or kind is datetime or value is None:
        return value
    if isinstance(value, Mapping):
        return {k: _escaped(v, escape, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escaped(v, escape) for v in value]
    if isinstance(value, Link) or (key == "url" and isinstance(value, str)):
        return Link(value)
    if isinstance(value, str) and not _CODE.fullmatch(value):
        return escape(value)
    return value


@cache
def _environment(lang: str) -> Environment:
    """.txt rendered as plain text or markdown, .html autoescaped (the context arrives escaped
    for the format already: see :func:`_escaped`)."""
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


def warm_up() -> int:
    """Compile every notification template of every language now (a worker process does
    it before its first message, not during it); returns how many."""
    count = 0
    for lang in LANGS:
        env = _environment(lang)
        for name in env.list_templates(extensions=("txt", "html")):
            env.get_template(name)
            count += 1
    return count


def _text_module(kind: str, context: Mapping[str, Any], lang: str, fmt: Literal["text", "markdown"]):
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}; expected one of {KINDS}")
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; expected one of {LANGS}")
    context = _escaped(context, escape_markdown if fmt == "markdown" else defang)
    module = _environment(lang).get_template(f"{kind}.txt").make_module(context)
    subject = " ".join(str(module.subject).split())  # one line: it becomes a mail header
    return context, module, subject, str(module).strip()


def render(kind: str, context: Mapping[str, Any], lang: str = "zh", html: bool = True) -> tuple[str, str, str]:
    """Return ``(subject, text, html)`` for one notification (``html`` False: no HTML, an
    empty string, for an in-app message that never needs it)."""
    context, module, subject, text = _text_module(kind, context, lang, "text")
    if not html:
        return subject, text + "\n", ""
    # what the text template sets (e.g. an event's lead and fields) the HTML shows too: worded once
    exported = {k: v for k, v in vars(module).items() if not k.startswith("_")}
    page = _environment(lang).get_template(f"{kind}.html").render({**context, **exported, "subject": subject})
    return subject, text + "\n", page


def render_markdown(kind: str, context: Mapping[str, Any], lang: str = "zh") -> str:
    """The group-robot message: a heading with the subject, then the text, as markdown."""
    _, _, subject, text = _text_module(kind, context, lang, "markdown")
    return f"### {subject}\n{text}\n"
