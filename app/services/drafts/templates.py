"""Rendering a .docx template with docxtpl, and checking one an office uploads.

A template is refused with a sentence naming what is wrong: not a zip (a renamed file, a
truncated download), a zip that is not a Word document, a tag that is not closed, a tag
Jinja cannot read (``{{ totals.total }``, ``{% for p in %}``, a block left open) or does
not know (``{% foo %}``), or a variable or field the document has none of
(``{{ totls.total }}``, ``{{ p.tittle }}``) — each naming the tag as it is written in
the document. User text is escaped when rendered (autoescape): a title with ``<`` or ``&``
stays text and never breaks the document's XML.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from docx.opc.exceptions import PackageNotFoundError
from docxtpl import DocxTemplate
from jinja2 import Environment, StrictUndefined, TemplateSyntaxError, UndefinedError, meta

from app.services.errors import Invalid

MAX_TEMPLATE_BYTES = 5 * 1024 * 1024
_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_OPENERS = re.compile(r"\{\{|\{%")
_BLOCK = re.compile(r"\{%-?\s*(\w+)")
_ENDS = {"for": "endfor", "if": "endif"}


def environment() -> Environment:
    return Environment(undefined=StrictUndefined, autoescape=True)


def render(content: bytes, context: dict[str, Any]) -> bytes:
    tpl = DocxTemplate(io.BytesIO(content))
    tpl.render(context, environment(), autoescape=True)
    out = io.BytesIO()
    tpl.save(out)
    return out.getvalue()


def check(content: bytes, sample: dict[str, Any]) -> None:
    """Refuse (Invalid, naming the tag) a template that cannot draft this kind of document;
    ``sample`` is a context of the kind with every list holding one item."""
    if len(content) > MAX_TEMPLATE_BYTES:
        raise Invalid("模板文件超过 {mb} MB。", mb=MAX_TEMPLATE_BYTES // (1024 * 1024))
    if not zipfile.is_zipfile(io.BytesIO(content)):
        raise Invalid("模板不是有效的 .docx 文件（无法作为 zip 打开），请在 Word 或 WPS 中另存为 .docx 后重新上传。")
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        if "word/document.xml" not in z.namelist():
            raise Invalid("模板不是 Word 文档（压缩包中没有 word/document.xml），请上传 .docx 文件。")
    try:
        tpl = DocxTemplate(io.BytesIO(content))
        tpl.init_docx()
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise Invalid("模板无法作为 Word 文档打开：{reason}", reason=str(err)) from None
    _check_closed(tpl)
    tags, source = _tags(tpl)
    env = environment()
    try:
        ast = env.parse(source)
    except TemplateSyntaxError as err:
        raise _syntax_error(err, tags) from None
    unknown = sorted(meta.find_undeclared_variables(ast) - sample.keys())
    if unknown:
        name = unknown[0]
        tag = next((t for t in tags if re.search(rf"\b{re.escape(name)}\b", t)), name)
        raise Invalid(
            "模板标签「{tag}」中的变量「{name}」不存在。可用的变量：{known}。",
            [{"field": "file", "message": f"unknown variable {name}", "tag": tag}],
            tag=tag,
            name=name,
            known="、".join(sorted(sample)),
        )
    try:
        render(content, sample)
    except UndefinedError as err:
        field = re.search(r"has no attribute '([^']+)'", str(err))
        tag = next((t for t in tags if field and re.search(rf"\.{re.escape(field.group(1))}\b", t)), "")
        details = [{"field": "file", "message": str(err), "tag": tag}]
        if tag:
            raise Invalid(
                "模板标签「{tag}」引用了不存在的字段：{reason}。", details, tag=tag, reason=str(err)
            ) from None
        raise Invalid("模板引用了不存在的字段：{reason}。", details, reason=str(err)) from None
    except Exception as err:  # a template Jinja reads but cannot run (a filter it lacks, a bad call)
        raise Invalid("模板无法生成文档：{reason}", reason=f"{type(err).__name__}: {err}") from None


def _paragraph_texts(tpl: DocxTemplate):
    doc = tpl.docx
    parts = [doc]
    for section in doc.sections:
        parts += [section.header, section.footer, section.even_page_header, section.even_page_footer]
    for part in parts:
        yield from (p.text for p in part.paragraphs)
        for table in part.tables:
            for row in table.rows:
                for cell in row.cells:
                    yield from (p.text for p in cell.paragraphs)


def _check_closed(tpl: DocxTemplate) -> None:
    """A tag opened in a paragraph is closed in it (docxtpl reads tags paragraph by paragraph)."""
    for text in _paragraph_texts(tpl):
        rest = _TAG.sub("", text)
        opened = _OPENERS.search(rest)
        if opened:
            piece = rest[opened.start() : opened.start() + 30]
            close = "}}" if piece.startswith("{{") else "%}"
            raise Invalid(
                "模板标签「{tag}」没有闭合（缺少「{close}」）。",
                [{"field": "file", "message": "unclosed tag", "tag": piece.strip()}],
                tag=piece.strip(),
                close=close,
            )


def _tags(tpl: DocxTemplate) -> tuple[list[str], str]:
    """Every tag of the document (its body, headers and footers) as docxtpl hands them to
    Jinja, one a line, so that a syntax error's line number names its tag."""
    xml = tpl.patch_xml(tpl.get_xml())
    for uri in (tpl.HEADER_URI, tpl.FOOTER_URI):
        for _, part in tpl.get_headers_footers(uri):
            xml += tpl.patch_xml(tpl.get_part_xml(part))
    tags = [re.sub(r"<[^>]+>", "", t) for t in _TAG.findall(xml)]
    return tags, "\n".join(tags)


def _syntax_error(err: TemplateSyntaxError, tags: list[str]) -> Invalid:
    line = err.lineno or 0
    if "Unexpected end of template" in err.message or line > len(tags):
        opened = _unclosed_block(tags)
        if opened:
            end = _ENDS.get(_BLOCK.match(opened).group(1), "end")
            return Invalid("模板标签「{tag}」没有对应的结束标签（{end}）。", tag=opened, end=end)
    tag = tags[line - 1] if 0 < line <= len(tags) else ""
    if "unknown tag" in err.message:
        return Invalid("模板标签「{tag}」无法识别：{reason}。", tag=tag, reason=err.message)
    return Invalid("模板标签「{tag}」有语法错误：{reason}。", tag=tag, reason=err.message)


def _unclosed_block(tags: list[str]) -> str | None:
    stack: list[str] = []
    for tag in tags:
        m = _BLOCK.match(tag)
        if not m:
            continue
        word = m.group(1)
        if word in _ENDS:
            stack.append(tag)
        elif word in _ENDS.values() and stack:
            stack.pop()
    return stack[-1] if stack else None
