"""The default templates of the drafted documents, built by python-docx as official
documents are laid out (GB/T 9704-2012), so that an office can download one, edit it in
Word or WPS and upload it again.

- A4, 版心 156 × 225 mm: margins top 37, bottom 35, left (订口) 28, right 26 mm;
- 发文机关标志 in red 小标宋 over a red separator line, the 文号 above the line;
- the title in 方正小标宋简体 二号 (22 pt), the body in 仿宋_GB2312 三号 (16 pt) on 22 lines
  of 29 pt a page, first lines indented by two characters, headings 一、 in 黑体 and
  （一） in 楷体_GB2312;
- page numbers 「— 1 —」 in 宋体 四号, odd pages on the right, even pages on the left;
- the annex (附件) on an A4 landscape section of its own.

Every run names its East-Asian font (``w:eastAsia`` in ``w:rFonts``), since Word and
WPS otherwise set Chinese in the Latin font's fallback. The tags are docxtpl's (Jinja with
``{%p %}`` paragraph and ``{%tr %}``/``{%tc %}`` table tags); each sits in one run, so an
office's edits around them keep them whole. ``flask draft-template KIND FILE`` writes a
template out; the bytes are the same every time (the zip's timestamps are fixed).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from functools import cache

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor

FANGSONG, HEITI, KAITI, XIAOBIAOSONG, SONG = "仿宋_GB2312", "黑体", "楷体_GB2312", "方正小标宋简体", "宋体"
LATIN = "Times New Roman"
BODY_PT, TITLE_PT, HEAD_PT, PAGE_NO_PT, TABLE_PT = 16, 22, 28, 14, 12
LINE_PT = 29  # 225 mm over 22 lines
RED = RGBColor(0xFF, 0x00, 0x00)


def _fonts(rpr_owner, east_asia: str, latin: str = LATIN) -> None:
    rpr = rpr_owner.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for attr, name in (("w:ascii", latin), ("w:hAnsi", latin), ("w:eastAsia", east_asia), ("w:cs", latin)):
        fonts.set(qn(attr), name)


class Writer:
    """Paragraphs and runs in the document's fonts, one call each."""

    def __init__(self, doc) -> None:
        self.doc = doc

    def para(
        self,
        text: str = "",
        font: str = FANGSONG,
        size: float = BODY_PT,
        align=WD_ALIGN_PARAGRAPH.JUSTIFY,
        indent: bool = True,
        bold: bool = False,
        colour: RGBColor | None = None,
        line: float = LINE_PT,
        container=None,
    ):
        p = (container or self.doc).add_paragraph()
        fmt = p.paragraph_format
        fmt.alignment = align
        fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        fmt.line_spacing = Pt(line)
        fmt.space_before = fmt.space_after = Pt(0)
        if indent:
            fmt.first_line_indent = Pt(size * 2)
        if text:
            self.run(p, text, font, size, bold, colour)
        return p

    def run(self, p, text: str, font: str = FANGSONG, size: float = BODY_PT, bold: bool = False, colour=None):
        r = p.add_run(text)
        r.font.size = Pt(size)
        r.font.bold = bold
        if colour is not None:
            r.font.color.rgb = colour
        _fonts(r._r, font)
        return r

    def tag(self, text: str):
        """A paragraph holding only a ``{%p … %}`` tag (docxtpl drops the paragraph)."""
        return self.para(text, indent=False)

    def heading(self, text: str):
        return self.para(text, HEITI)

    def subheading(self, text: str):
        return self.para(text, KAITI)

    def title(self, text: str):
        self.para(text, XIAOBIAOSONG, TITLE_PT, WD_ALIGN_PARAGRAPH.CENTER, indent=False, line=35)

    def blank(self):
        self.para(indent=False)

    def letterhead(self, issuer: str, recipient: str) -> None:
        """A document's opening: the masthead with its 文号, the title, and whom it is to."""
        self.masthead(issuer, "{{ doc_number }}")
        self.title("{{ title }}")
        self.blank()
        self.para(f"{recipient}：", indent=False)

    def masthead(self, issuer: str, number: str) -> None:
        """发文机关标志 in red, the 文号, and the red line under it."""
        for _ in range(2):
            self.blank()
        self.para(issuer, XIAOBIAOSONG, HEAD_PT, WD_ALIGN_PARAGRAPH.CENTER, indent=False, colour=RED, line=40)
        self.blank()
        p = self.para(number, FANGSONG, BODY_PT, WD_ALIGN_PARAGRAPH.CENTER, indent=False)
        p.paragraph_format.space_after = Pt(6)
        border = OxmlElement("w:pBdr")
        bottom = OxmlElement("w:bottom")
        for k, v in (("w:val", "single"), ("w:sz", "12"), ("w:space", "8"), ("w:color", "FF0000")):
            bottom.set(qn(k), v)
        border.append(bottom)
        p._p.get_or_add_pPr().append(border)
        self.blank()

    def chain(self) -> None:
        """The chain head of the record behind the document, in small type, and how to check it."""
        self.tag("{%p if chain_line %}")
        self.para("{{ chain_line }}", size=9, indent=False, line=12, align=WD_ALIGN_PARAGRAPH.LEFT)
        self.tag("{%p endif %}")

    def signature(self, who: str, day: str) -> None:
        self.blank()
        for text in (who, day):
            p = self.para(text, indent=False, align=WD_ALIGN_PARAGRAPH.RIGHT)
            p.paragraph_format.right_indent = Pt(BODY_PT * 4)

    def table(self, headings: list[str], widths_mm: list[float], container=None):
        """A bordered table with a repeated heading row; returns it for the body rows."""
        t = (container or self.doc).add_table(rows=1, cols=len(headings))
        t.style = "Table Grid"
        t.alignment = WD_TABLE_ALIGNMENT.CENTER
        t.autofit = False
        for column, width in zip(t.columns, widths_mm, strict=True):
            column.width = Mm(width)  # the grid, which LibreOffice and WPS lay out by
        for cell, text, width in zip(t.rows[0].cells, headings, widths_mm, strict=True):
            cell.width = Mm(width)
            cell.paragraphs[0].paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
            self.run(cell.paragraphs[0], text, HEITI, TABLE_PT)
        header = t.rows[0]._tr.get_or_add_trPr()
        header.append(OxmlElement("w:tblHeader"))
        return t

    def loop_table(self, headings: list[str], widths_mm: list[float], loop: str, fields: list[str]) -> None:
        """A table of one row per item: ``{%tr for <loop> %}``, a row of ``{{ r.<field> }}``,
        ``{%tr endfor %}``."""
        t = self.table(headings, widths_mm)
        blank = [""] * (len(headings) - 1)
        self.row(t, [f"{{%tr for {loop} %}}", *blank], widths_mm)
        self.row(t, [f"{{{{ r.{name} }}}}" for name in fields], widths_mm)
        self.row(t, ["{%tr endfor %}", *blank], widths_mm)

    def row(self, t, texts: list[str], widths_mm: list[float]) -> None:
        cells = t.add_row().cells
        for cell, text, width in zip(cells, texts, widths_mm, strict=True):
            cell.width = Mm(width)
            p = cell.paragraphs[0]
            p.paragraph_format.line_spacing = Pt(16)
            if text:
                self.run(p, text, FANGSONG, TABLE_PT)


def _page_number(paragraph, align) -> None:
    """「— N —」 with a PAGE field, in 宋体 四号."""
    w = Writer(None)
    paragraph.paragraph_format.alignment = align
    paragraph.paragraph_format.left_indent = paragraph.paragraph_format.right_indent = Pt(PAGE_NO_PT)
    w.run(paragraph, "— ", SONG, PAGE_NO_PT)
    for kind, text in (("begin", None), (None, "PAGE"), ("separate", None), (None, None), ("end", None)):
        r = w.run(paragraph, "1" if (kind is None and text is None) else "", SONG, PAGE_NO_PT)
        if kind:
            fld = OxmlElement("w:fldChar")
            fld.set(qn("w:fldCharType"), kind)
            r._r.append(fld)
        elif text:
            instr = OxmlElement("w:instrText")
            instr.set(qn("xml:space"), "preserve")
            instr.text = text
            r._r.append(instr)
    w.run(paragraph, " —", SONG, PAGE_NO_PT)


def _page(section, landscape: bool = False) -> None:
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    long, short = Mm(297), Mm(210)
    section.page_width, section.page_height = (long, short) if landscape else (short, long)
    if landscape:  # the same type area turned: the binding edge stays on top
        section.top_margin, section.bottom_margin = Mm(28), Mm(26)
        section.left_margin, section.right_margin = Mm(37), Mm(35)
    else:
        section.top_margin, section.bottom_margin = Mm(37), Mm(35)
        section.left_margin, section.right_margin = Mm(28), Mm(26)
    section.footer_distance = Mm(21)
    section.header_distance = Mm(15)


def _new_document():
    doc = Document()
    normal = doc.styles["Normal"]
    normal.font.size = Pt(BODY_PT)
    normal.font.name = LATIN
    _fonts(normal.element, FANGSONG)
    doc.settings.odd_and_even_pages_header_footer = True
    section = doc.sections[0]
    _page(section)
    _page_number(section.footer.paragraphs[0], WD_ALIGN_PARAGRAPH.RIGHT)
    _page_number(section.even_page_footer.paragraphs[0], WD_ALIGN_PARAGRAPH.LEFT)
    doc.core_properties.author = "Rectify"
    return doc


def _annex(doc, w: Writer, title: str):
    section = doc.add_section()
    _page(section, landscape=True)
    w.para("附件", HEITI, indent=False)
    w.title(title)
    w.blank()


REPORT_ANNEX = [
    "序号",
    "问题类型",
    "具体问题",
    "责任单位",
    "整改时限",
    "整改措施落实情况",
    "佐证材料（份）",
    "整改状态",
    "未完成原因",
]
REPORT_WIDTHS = [10, 18, 36, 24, 16, 55, 14, 14, 38]  # 225 mm: the type area turned


def report_template() -> Document:
    """整改情况报告: the unit's report on a plan as of a date, with the ledger as its annex."""
    doc = _new_document()
    w = Writer(doc)
    w.letterhead("{{ issuer }}文件", "{{ recipient }}")
    w.para(
        "根据《{{ plan_title }}》（{{ plan_doc_number }}）要求，我单位对照问题清单逐项抓好整改落实。"
        "截至{{ as_of }}，整改工作情况报告如下："
    )
    w.heading("一、总体情况")
    w.para(
        "我单位承担整改任务{{ totals.total }}项，已整改{{ totals.done }}项（其中已销号{{ totals.closed }}项、"
        "已核实{{ totals.verified }}项、待核实{{ totals.rectified }}项），正在整改{{ totals.open }}项，"
        "其中逾期{{ totals.overdue }}项。销号率{{ totals.completion_rate }}，整改完成率{{ totals.rectified_rate }}。"
    )
    w.heading("二、整改落实情况")
    w.tag("{%p for p in problems %}")
    w.subheading("（{{ p.number_cn }}）{{ p.title }}")
    w.para("整改措施落实情况：{{ p.account }}")
    w.para("佐证材料{{ p.evidence }}份；整改状态：{{ p.state }}。")
    w.tag("{%p endfor %}")
    w.heading("三、尚未完成的事项及原因")
    w.tag("{%p for p in open_items %}")
    w.para("{{ loop.index }}. {{ p.title }}：{{ p.why_open }}")
    w.tag("{%p else %}")
    w.para("整改任务均已完成。")
    w.tag("{%p endfor %}")
    w.heading("四、下一步工作打算")
    w.tag("{%p for step in next_steps %}")
    w.para("{{ loop.index }}. {{ step }}")
    w.tag("{%p endfor %}")
    w.blank()
    w.para("附件：{{ annex_title }}", indent=True)
    w.signature("{{ issuer }}", "{{ date }}")
    w.chain()
    _annex(doc, w, "{{ annex_title }}")
    w.loop_table(
        REPORT_ANNEX,
        REPORT_WIDTHS,
        "r in annex",
        ["seq", "category", "title", "unit", "deadline", "account", "evidence", "state", "why_open"],
    )
    return doc


def period_template() -> Document:
    """A recurring report from the ledger: what changed in the period, in the plan's
    ledger layout, a short summary, and the unit's note."""
    doc = _new_document()
    w = Writer(doc)
    w.title("{{ title }}")
    w.para("（{{ period_from }}至{{ period_to }}）", align=WD_ALIGN_PARAGRAPH.CENTER, indent=False)
    w.blank()
    w.para("{{ recipient }}：", indent=False)
    w.heading("一、本期情况")
    w.para("{{ summary }}")
    w.heading("二、说明")
    w.para("{{ note or '无。' }}")
    w.signature("{{ issuer }}", "{{ date }}")
    w.chain()
    _annex(doc, w, "{{ annex_title }}")
    t = doc.add_table(rows=3, cols=3)
    t.style = "Table Grid"
    t.alignment = WD_TABLE_ALIGNMENT.CENTER
    for r, texts in enumerate(
        [
            ["{%tc for c in columns %}", "{{ c }}", "{%tc endfor %}"],
            ["{%tr for r in rows %}", "", ""],
            ["{%tc for v in r %}", "{{ v }}", "{%tc endfor %}"],
        ]
    ):
        for cell, text in zip(t.rows[r].cells, texts, strict=True):
            w.run(cell.paragraphs[0], text, HEITI if r == 0 else FANGSONG, TABLE_PT - 1)
    cells = t.add_row().cells
    w.run(cells[0].paragraphs[0], "{%tr endfor %}", FANGSONG, TABLE_PT - 1)
    t.rows[0]._tr.get_or_add_trPr().append(OxmlElement("w:tblHeader"))
    w.tag("{%p if not rows %}")
    w.para("本期台账无变化。", indent=False)
    w.tag("{%p endif %}")
    return doc


NOTICE_COLUMNS = ["序号", "责任单位", "问题", "整改时限", "逾期（工作日）", "当前状态"]
NOTICE_WIDTHS = [12, 40, 70, 26, 24, 24]


def notice_template() -> Document:
    """通报 draft: the items at the top of the ladder, by unit, with how long each is overdue."""
    doc = _new_document()
    w = Writer(doc)
    w.letterhead("{{ issuer }}", "{{ recipients }}")
    w.para(
        "截至{{ as_of }}，《{{ plan_title }}》（{{ plan_doc_number }}）中共有{{ count }}项整改任务逾期未完成，"
        "已升至最高督办层级，涉及{{ units|length }}个单位，现予以通报。"
    )
    w.tag("{%p for u in units %}")
    w.subheading("（{{ u.number_cn }}）{{ u.name }}：{{ u.count }}项，最长逾期{{ u.longest }}个工作日。")
    w.tag("{%p endfor %}")
    w.para("请上述单位主要负责同志切实履行第一责任人职责，立即整改到位，并于收到本通报后5个工作日内书面报送整改情况。")
    w.para("附件：{{ annex_title }}", indent=True)
    w.signature("{{ issuer }}", "{{ date }}")
    w.chain()
    _annex(doc, w, "{{ annex_title }}")
    w.loop_table(
        NOTICE_COLUMNS, NOTICE_WIDTHS, "r in items", ["seq", "unit", "title", "deadline", "overdue_workdays", "state"]
    )
    return doc


BUILDERS: dict[str, Callable[[], Document]] = {
    "report": report_template,
    "period": period_template,
    "notice": notice_template,
}


@cache
def default_template(kind: str) -> bytes:
    """The default template of ``kind`` as .docx bytes, identical on every call and run."""
    buf = io.BytesIO()
    BUILDERS[kind]().save(buf)
    return fixed_zip(buf.getvalue())


def fixed_zip(data: bytes) -> bytes:
    """The same zip with every entry dated 1980-01-01, so equal content gives equal bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()
