"""User text in messages cannot become someone else's link, in any format a message
takes: plain text (mail, webhook), HTML (mail) and markdown (WeCom, DingTalk robots).
Every template of every kind and language is rendered with hostile text in every field
a user can type; the app's own link stays live."""

from __future__ import annotations

import re

import pytest

from app.notify.render import KINDS, LANGS, defang, escape_markdown, markdown_of, render, render_markdown
from tests.unit.test_notify_render import CONTEXTS

LINK = "[点此核实](http://evil.example/login)"
HOSTILE = f'{LINK} ![图](https://evil.example/x.png) <@all> <font color="warning">紧急</font> **加急** www.evil.example'
URL = "https://rectify.example.cn/tasks/1"


def hostile(value, key: str = ""):
    """``value`` with every piece of user text replaced by the hostile text (the app's own
    link and the state names stay)."""
    if isinstance(value, dict):
        return {k: hostile(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [hostile(v) for v in value]
    if isinstance(value, str) and key not in ("url", "state", "event"):
        return f"- {HOSTILE}"
    return value


def context(kind: str) -> dict:
    """The render tests' context for ``kind`` (every kind has one), made hostile."""
    return hostile(CONTEXTS[kind]) | {"url": URL, "name": f"# {HOSTILE}"}


def live_links(markdown: str) -> list[str]:
    """What a markdown renderer would make a link of: [x](y), ![x](y), <scheme:...>, bare URLs."""
    found = re.findall(r"!?\[[^\]]*\]\([^)]*\)", markdown)
    found += re.findall(r"<[a-z]+:[^>]*>", markdown)
    found += re.findall(r"(?:https?://|www\.)[^\s)）]+", markdown)
    return found


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("kind", KINDS)
def test_robot_markdown_of_every_template_has_only_the_apps_own_link(kind, lang):
    markdown = render_markdown(kind, context(kind), lang)
    assert markdown.startswith("### ")
    assert live_links(markdown) == [URL]
    for tag in ("<@all>", "<font", "**加急**"):
        assert tag not in markdown
    assert "点此核实" in markdown and "evil.example" in markdown, "the text itself is still shown"


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("kind", KINDS)
def test_mail_text_and_html_of_every_template_link_only_to_the_app(kind, lang):
    subject, text, html = render(kind, context(kind), lang)
    for where in (subject, text, html):
        assert "http://evil" not in where and "https://evil" not in where and "www.evil" not in where
    assert re.findall(r"https?://[^\s<\"]+", text) == [URL]
    assert re.findall(r'href="([^"]+)"', html) == [URL]
    assert "<font" not in html and "&lt;font" in html


def test_a_stored_message_sent_to_a_robot_keeps_the_apps_link_and_escapes_the_rest():
    """Rows rendered when written (events), or sent as written when a template fails (then
    defanged), reach the robots as plain text made markdown."""
    markdown = markdown_of(defang(HOSTILE), f"事项：{defang(HOSTILE)}\n查看：{URL}\n")
    assert live_links(markdown) == [URL]
    assert "<@all>" not in markdown


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        (LINK, "［点此核实］（http［:］//evil.example/login）"),
        ("1. 第一条", "1\\. 第一条"),
        ("- 列表", "\\- 列表"),
        ("# 标题", "\\# 标题"),
        ("a_b*c`d|e~f", "a\\_b\\*c\\`d\\|e\\~f"),
        ("第一行\n## 第二行", "第一行 \\#\\# 第二行"),
        ("整改率 95.5%，3-5 户", "整改率 95.5%，3-5 户"),
    ],
)
def test_markdown_escaping_keeps_the_words_and_drops_the_markup(typed, shown):
    assert escape_markdown(typed) == shown
