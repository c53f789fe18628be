"""The ledger (台账) layouts officials keep in Excel/WPS, and the pure rules for reading
and writing them.

Two layouts come from the seed notices: the Sanmenxia annex (序号/类型/数量 merged per
category over several rows, continuation rows with a blank 序号) and the Yuzhou
template (one row per problem, with a 问题性质 column). Everything here works on plain
cell values so it can be tested without a workbook or a database; reading the file and
resolving unit names against the unit tree is the service's job.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from operator import itemgetter
from typing import NamedTuple

from app.domain.workflow import COUNTED, STATE_LABELS, State

SEQ, CATEGORY, COUNT, NATURE = "seq", "category", "count", "nature"
TITLE, DESCRIPTION, MEASURES, DEADLINE, UNITS, REMARKS = (
    "title",
    "description",
    "measures",
    "deadline",
    "units",
    "remarks",
)
# A row is a problem only if one of these has text: 序号/类型/数量 alone is a template's
# pre-numbered empty line or a footnote such as 「备注：…」 in the first column.
CONTENT_KEYS = (TITLE, DESCRIPTION, MEASURES, DEADLINE, UNITS)

COMMON, INDIVIDUAL = "common", "individual"
NATURE_LABELS = {COMMON: "共性问题", INDIVIDUAL: "个性问题"}


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int  # in Excel character units, for the export
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Layout:
    key: str
    name: str
    columns: tuple[Column, ...]
    required: frozenset[str]  # the header must name all of these to be taken for this layout
    grouped: bool  # 序号/类型/数量 number the categories and are merged over their rows
    stamp_line: bool = False  # a 单位（盖章）： … date line under the title, as the template has
    footnote: str = ""  # a 备注 line under the table

    def column(self, key: str) -> Column | None:
        return next((c for c in self.columns if c.key == key), None)


SANMENXIA = Layout(
    key="sanmenxia",
    name="问题清单与整改台账（三门峡样式）",
    columns=(
        Column(SEQ, "序号", 6),
        Column(CATEGORY, "类型", 10, ("问题类型",)),
        Column(COUNT, "数量", 6),
        Column(TITLE, "具体问题", 22),
        Column(DESCRIPTION, "问题简述", 45),
        Column(MEASURES, "整改措施简述", 55, ("整改措施",)),
        Column(DEADLINE, "整改时限", 12, ("完成时限",)),
        Column(UNITS, "责任单位", 22),
        Column(REMARKS, "备注", 12),
    ),
    required=frozenset({CATEGORY, TITLE, DESCRIPTION, MEASURES, DEADLINE, UNITS}),
    grouped=True,
)
YUZHOU = Layout(
    key="yuzhou",
    name="排查整改台账（禹州样式）",
    columns=(
        Column(SEQ, "序号", 6),
        Column(CATEGORY, "问题类型", 14),
        Column(NATURE, "问题性质", 10),
        Column(DESCRIPTION, "问题表述", 45),
        Column(MEASURES, "整改措施", 50),
        Column(DEADLINE, "完成时限", 12, ("整改时限",)),
        Column(UNITS, "责任单位", 22),
    ),
    required=frozenset({CATEGORY, NATURE, DESCRIPTION, MEASURES, DEADLINE, UNITS}),
    grouped=False,
    stamp_line=True,
    footnote=(
        "备注：“问题性质”指共性问题、个性问题；整改措施要有针对性、操作性，体现整改进度和落实效果；"
        "完成时限精准到“日”；“进展”一栏填写的内容导入时记为进展情况，不改变整改状态。"
    ),
)
LAYOUTS = {layout.key: layout for layout in (SANMENXIA, YUZHOU)}
PROGRESS, CLOSED, KEY = "progress", "closed", "key"
# Columns the export adds after the layout's own: the roll-up of the problem's tasks, and
# a hidden key naming the plan and problem, by which a re-imported file updates the plan.
PROGRESS_COLUMNS = (Column(PROGRESS, "进展", 26), Column(CLOSED, "是否销号", 9))
KEY_COLUMN = Column(KEY, "台账编号", 12)
# A plan answered below (plans that answer plans): how each problem stands one level down,
# 「卢氏县住建局（卢建〔2022〕45号）：官道口镇 已整改、杜关镇 整改中」; export only
BELOW = "below"
BELOW_COLUMN = Column(BELOW, "下级整改", 30)
# 签收: who acknowledged each task and on which day (written by the export, never read back)
ACKNOWLEDGED = "acknowledged"
ACK_COLUMN = Column(ACKNOWLEDGED, "签收情况", 26)
EXTRA_COLUMNS = (*PROGRESS_COLUMNS, KEY_COLUMN)  # read when present, never required

HEADER_SCAN_ROWS = 20  # title rows (台账 title, 单位（盖章）：, date) sit above the header


# ---- cell values ----------------------------------------------------------------------
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLACEHOLDER = re.compile(r"[\s.。…·\-—_/]*")  # 「...」 left in a template row means nothing
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def neutralise(value: object) -> object:
    """Text a spreadsheet would run as a formula (=, +, -, @, tab, CR) gets a leading
    quote, so an exported ledger can never execute what somebody typed into a title.
    Control characters go first: a spreadsheet cannot hold them, and dropping them
    afterwards could bring a formula to the front again."""
    if not isinstance(value, str):
        return value
    text = value if value.isprintable() else _CONTROL.sub("", value)  # printable: no control character
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def restore(text: str) -> str:
    """Undo :func:`neutralise` on import, so an exported ledger reads back as written."""
    if text.startswith("'") and text[1:].startswith(_FORMULA_STARTS):
        return text[1:]
    return text


def cell_text(value: object) -> str:
    """A cell as the official sees it: whole numbers without ``.0``, dates as ISO dates
    (which the deadline parser accepts), placeholder dots as nothing."""
    if value is None or value == "":
        return ""
    if type(value) is str:
        text = value
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    elif isinstance(value, datetime):
        text = value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = str(value)
    text = restore(text.replace("\r\n", "\n").strip())
    return "" if _PLACEHOLDER.fullmatch(text) else text


def header_text(value: object) -> str:
    """Header cells compared loosely: full/half-width forms, whitespace (「序 号」, line
    breaks in narrow columns), bracketed notes (「完成时限（精确到日）」), stars and colons."""
    text = unicodedata.normalize("NFKC", cell_text(value))
    text = re.sub(r"\([^)]*\)", "", text)
    return re.sub(r"[\s*※:]", "", text)


# ---- finding the header and the rows ---------------------------------------------------
@dataclass(frozen=True)
class Header:
    layout: Layout
    row: int  # 1-based sheet row
    columns: dict[str, int]  # column key -> 0-based index


def match_header(row: Sequence[object]) -> tuple[Layout, dict[str, int]] | None:
    """The layout whose headings this row carries (the one naming most columns wins)."""
    texts = [header_text(v) for v in row]
    best: tuple[Layout, dict[str, int]] | None = None
    for layout in LAYOUTS.values():
        found: dict[str, int] = {}
        for col in layout.columns:
            names = {header_text(col.label), *(header_text(a) for a in col.aliases)}
            index = next((i for i, t in enumerate(texts) if t in names and i not in found.values()), None)
            if index is not None:
                found[col.key] = index
        if layout.required <= found.keys() and (best is None or len(found) > len(best[1])):
            best = (layout, found)
    if best is not None:
        for col in EXTRA_COLUMNS:
            index = next((i for i, t in enumerate(texts) if t == col.label and i not in best[1].values()), None)
            if index is not None:
                best[1][col.key] = index
    return best


def unmerge(
    grid: list[list[object]], ranges: Iterable[tuple[int, int, int, int]], tick: Callable[[], None] = lambda: None
) -> list[list[object]]:
    """Give every cell of a merged range the range's top-left value.

    ``grid[r - 1][c - 1]`` is sheet cell (r, c); ranges are 1-based
    ``(min_row, min_col, max_row, max_col)``. Parts of a range beyond the grid are
    ignored, so a merge declared over a million rows costs nothing. ``tick`` is called
    once per range (the caller's CPU budget).
    """
    out = list(grid)
    copied: set[int] = set()  # rows are copied only when a merge writes into them
    for min_row, min_col, max_row, max_col in ranges:
        tick()
        if min_row > len(out) or min_col > len(out[min_row - 1]):
            continue
        value = out[min_row - 1][min_col - 1]
        for r in range(min_row, min(max_row, len(out)) + 1):
            if r not in copied:
                out[r - 1] = list(out[r - 1])
                copied.add(r)
            row = out[r - 1]
            for c in range(min_col, min(max_col, len(row)) + 1):
                row[c - 1] = value
    return out


@dataclass(frozen=True)
class LedgerRow:
    """One problem row as written (after unmerging and carrying down)."""

    row: int
    category: str
    nature: str
    title: str
    description: str
    measures: str
    deadline: str
    units: str
    remarks: str
    progress: str = ""  # 进展 as typed (the export writes the roll-up there)
    key: str = ""  # the hidden 台账编号 of an exported ledger


_DESCRIPTION_HEADINGS = {
    name
    for layout in LAYOUTS.values()
    for col in layout.columns
    if col.key == DESCRIPTION
    for name in (col.label, *col.aliases)
}


def read_rows(header: Header, grid: list[list[object]], tick: Callable[[], None] = lambda: None) -> list[LedgerRow]:
    """The problem rows below the header, in sheet order.

    A blank 类型 continues the one above (a continuation row of the annex, or a merge
    the file lost). 序号 is not read: a problem gets its number when it is added.
    Rows without problem text are skipped, as are a repeated header (tables split
    over printed pages) and a note merged across the row. ``tick`` is called every
    hundred rows (the caller's CPU budget).
    """
    cols = list(header.columns.items())
    out: list[LedgerRow] = []
    category, last_category = "", None
    seen: dict[object, str] = {"": ""}  # cell value -> its text: ledgers repeat units, deadlines, measures
    headings = _DESCRIPTION_HEADINGS | {grid[header.row - 1][header.columns[DESCRIPTION]]}
    for number in range(header.row + 1, len(grid) + 1):
        if number % 100 == 0:
            tick()
        values = grid[number - 1]
        width = len(values)
        texts = {}
        for key, i in cols:
            value = values[i] if i < width else ""
            text = seen.get(value) if type(value) is str else None
            if text is None:
                text = cell_text(value)
                if type(value) is str:
                    seen[value] = text
            texts[key] = text
        if not any(texts.get(k) for k in CONTENT_KEYS):
            continue
        filled = [t for t in texts.values() if t]
        if len(filled) >= 3 and len(set(filled)) == 1:
            continue
        if texts[DESCRIPTION] in headings and match_header(values):
            continue
        if texts.get(CATEGORY, "") != last_category:
            last_category = texts.get(CATEGORY, "")
            category = re.sub(r"\s+", "", last_category) or category
        description = texts.get(DESCRIPTION, "")
        out.append(
            LedgerRow(
                row=number,
                category=category,
                nature=texts.get(NATURE, ""),
                title=_strip_end(texts.get(TITLE, "")) or short_title(description),
                description=description,
                measures=texts.get(MEASURES, ""),
                deadline=texts.get(DEADLINE, ""),
                units=texts.get(UNITS, ""),
                remarks=texts.get(REMARKS, ""),
                progress=texts.get(PROGRESS, ""),
                key=texts.get(KEY, ""),
            )
        )
    return out


def _strip_end(text: str) -> str:
    return text.strip().rstrip("。．.，,；;：:")


TITLE_LIMIT = 40


def short_title(text: str) -> str:
    """A title for a row without one: the first sentence, cut to :data:`TITLE_LIMIT`."""
    first = _strip_end(re.split(r"[。；;！!？?\n]", text.strip(), maxsplit=1)[0])
    return first if len(first) <= TITLE_LIMIT else first[: TITLE_LIMIT - 1] + "…"


# ---- 问题性质 and 责任单位 ---------------------------------------------------------------
def nature_of(text: str, scope: bool) -> str:
    """共性问题 → common, 个性问题 → individual. Without the column (the Sanmenxia annex) or
    with it left blank, a problem for a scope such as 各县（市、区）… is common."""
    norm = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))
    if not norm:
        return COMMON if scope else INDIVIDUAL
    if norm.startswith("共性") or norm == COMMON:
        return COMMON
    if norm.startswith("个性") or norm == INDIVIDUAL:
        return INDIVIDUAL
    raise ValueError(f"问题性质「{text}」应为“共性问题”或“个性问题”")


_OPEN, _CLOSE = "（(【[「《", "）)】]」》"
_SEPARATORS = "、，,；;\n\r"


def split_units(text: str) -> list[str]:
    """Names in a 责任单位 cell, split on 、，,；; and line breaks, but not inside brackets:
    「各县（市、区）住房和城乡建设部门」 is one name."""
    parts, current, depth = [], [], 0
    for ch in text:
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth = max(depth - 1, 0)
        if ch in _SEPARATORS and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    names = [re.sub(r"\s+", "", p).strip("“”\"'‘’") for p in parts]
    return list(dict.fromkeys(n for n in names if n))


def normal_name(name: str) -> str:
    """Unit names compared without width or whitespace differences."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", name))


_SCOPE = re.compile(r"(?:全[省市县区])?各")


def is_scope(name: str) -> bool:
    """「各…」 (各县（市、区）住房和城乡建设部门, 各乡镇人民政府, 各乡镇) means every unit
    directly under the issuer, whatever follows 各."""
    return _SCOPE.match(normal_name(name)) is not None


# The end of a place name: 卢氏县 | 古城镇 | 城关街道. 州 counts (陕州区 is a place with 州 in it).
_PLACE_END = re.compile(r"街道|[省市县区旗州盟镇乡村]")


def _common_prefix(texts: Sequence[str]) -> str:
    if not texts:
        return ""
    first, last = min(texts), max(texts)  # the extremes share the least
    n = next((i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), min(len(first), len(last)))
    return first[:n]


def abbreviates(short: str, full: str) -> bool:
    """Whether ``short`` is a short form of ``full`` (both :func:`normal_name`).

    They must share a place-name prefix ending in 县/区/镇/乡…, and the rest of the short
    form must be a subsequence of the rest of the full name: 卢氏县住建局 →
    卢氏县住房和城乡建设局, 古城镇 → 古城镇人民政府, 古城镇政府 → 古城镇人民政府.
    Where the match skips part of the full name, that part may not hold a place-name end
    either, so 城乡建设局 is not read as 城乡|一体化示范区…建设局.
    """
    common = _common_prefix([short, full])
    ends = [m.end() for m in _PLACE_END.finditer(common)]
    if not ends or ends[-1] < 2:
        return False
    place = ends[-1]
    rest_short, rest_full = short[place:], full[place:]
    if not rest_short:
        return True
    start = rest_full.find(rest_short[0])
    if start < 0 or _PLACE_END.search(rest_full[:start]):
        return False
    it = iter(rest_full[start:])
    return all(ch in it for ch in rest_short)


def scope_fits(phrase: str, names: Sequence[str]) -> bool:
    """Whether a 「各…」 phrase can mean the units called ``names``: the place levels it
    names (县（市、区）, 乡（镇）, 街道 …) must include the level of at least one of them.
    A phrase naming no level (各下属单位, 各有关单位) fits any units."""
    head = re.match(r"(?:全[省市县区])?各((?:[省州盟县市区旗乡镇村（）()、]|街道)*)", normal_name(phrase))
    wanted = set(_PLACE_END.findall(head.group(1))) if head else set()
    if not wanted:
        return True
    have = {m.group() for n in names if (m := _PLACE_END.search(normal_name(n)))}
    return bool(wanted & have)


def row_key(plan_id: int, seq: int) -> str:
    """The hidden 台账编号 of an exported row: which plan and which problem."""
    return f"P{plan_id}-{seq}"


_KEY = re.compile(r"P([0-9]{1,9})-([0-9]{1,9})")


def parse_key(text: str) -> tuple[int, int] | None:
    m = _KEY.fullmatch(text.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


_LEVEL_ORDER = ("省", "州", "盟", "县", "市", "区", "旗", "乡", "镇", "街道", "村")


def scope_phrase(names: Sequence[str]) -> str:
    """The 「各…」 phrase for all the units directly under an issuer, built from their names
    the way notices write it: 各县（市、区）住房和城乡建设部门, 各乡（镇）人民政府.

    The shared ending of the names is the body's function; the place-level characters in
    front of it make 县（市、区）. A shared ending in 局 becomes 部门, as notices write it,
    because the bodies of different counties are not all called 局. Names with no shared
    function fall back to 各下属单位. On import any 「各…」 means the same set again.
    """
    suffix = _common_prefix([n[::-1] for n in names])[::-1]
    levels = _levels_before(names, suffix)
    level = _PLACE_END.match(suffix)
    if levels is None and level:  # all names share the level too: 湖滨区… and 陕州区…
        suffix = suffix[level.end() :]
        levels = _levels_before(names, suffix)
    if not suffix or not levels:
        return "各下属单位"
    first, *rest = sorted(levels, key=_LEVEL_ORDER.index)
    body = suffix[:-1] + "部门" if suffix.endswith("局") else suffix
    return f"各{first}" + (f"（{'、'.join(rest)}）" if rest else "") + body


def _levels_before(names: Sequence[str], suffix: str) -> set[str] | None:
    """The place-level token (县, 区, 街道 …) in front of ``suffix`` in every name, or None
    if some name has no place level right there."""
    levels = set()
    for name in names:
        place = name[: len(name) - len(suffix)]
        found = [m.group() for m in _PLACE_END.finditer(place) if m.end() == len(place)]
        if not found:
            return None
        levels.add(found[0])
    return levels


# ---- export ---------------------------------------------------------------------------
_ORDER_OF_PROGRESS = (State.VERIFIED, State.RECTIFIED, State.IN_PROGRESS, State.IDENTIFIED, State.WITHDRAWN)


def progress_text(counts: Mapping[str, int]) -> str:
    """「3/7 已销号，2 整改中」: closed of all, then the other states nearest done first
    (withdrawn tasks last, outside the total). ``counts``: tasks by state."""
    parts = [f"{counts.get(State.CLOSED, 0)}/{_counted(counts)} 已销号"]
    parts += [f"{counts[st]} {STATE_LABELS[st]}" for st in _ORDER_OF_PROGRESS if counts.get(st)]
    return "，".join(parts)


def all_closed(counts: Mapping[str, int]) -> bool:
    total = _counted(counts)
    return total > 0 and counts.get(State.CLOSED, 0) == total


def _counted(counts: Mapping[str, int]) -> int:
    """The tasks a total counts (:data:`COUNTED`: every state but withdrawn)."""
    return sum(n for st, n in counts.items() if st in _COUNTED)


_COUNTED = frozenset(COUNTED)


_DIGITS = "一二三四五六七八九"


def chinese_number(n: int) -> str:
    """一, 二 … 九十九: how the annex numbers its categories (（一）政策落实方面); from 100
    on, Arabic digits (no annex has that many)."""
    if n >= 100:
        return str(n)
    tens, units = divmod(n, 10)
    if n < 10:
        return _DIGITS[n - 1]
    head = "" if tens == 1 else _DIGITS[tens - 1]
    return head + "十" + (_DIGITS[units - 1] if units else "")


class ExportProblem(NamedTuple):  # a tuple, not a frozen dataclass: built once per exported row
    id: int
    seq: int
    category: str
    nature: str
    title: str
    description: str
    measures: str
    deadline_text: str
    units: str
    remarks: str
    progress: str
    closed: bool
    key: str = ""  # the hidden 台账编号 (:func:`row_key`)
    below: str = ""  # the 下级整改 cell (:data:`BELOW_COLUMN`)
    acknowledged: str = ""  # 签收情况 (:func:`receipt_text`)

    @classmethod
    def of(cls, problem, plan_id: int, units: str, states: Mapping[str, int], **cells: str) -> ExportProblem:
        """A problem's row: its own fields, its units, and its tasks' states read as 进展
        and 是否销号 (the export and a drafted period report build rows alike)."""
        return cls(
            id=problem.id,
            seq=problem.seq,
            category=problem.category,
            nature=problem.nature,
            title=problem.title,
            description=problem.description,
            measures=problem.measures,
            deadline_text=problem.deadline_text,
            units=units,
            remarks=problem.remarks,
            progress=progress_text(states),
            closed=all_closed(states),
            key=row_key(plan_id, problem.seq),
            **cells,
        )


@dataclass(frozen=True)
class Receipt:
    """One task's 签收 as the ledger shows it: its unit, the receipt's state, and who
    acknowledged it on which China day."""

    unit: str
    receipt: str  # app.domain.receipt.ReceiptState
    by: str | None = None
    on: date | None = None


_RECEIPT_WORDS = {"pending": "待签收", "declined": "已拒收", "insisted": "维持交办，待签收"}


def receipt_text(receipts: Sequence[Receipt]) -> str:
    """「张某 2022年6月8日签收」, one line per unit (named when there are several); a task
    acknowledged before 签收 was recorded reads 已签收."""

    def one(r: Receipt) -> str:
        if r.receipt != "acknowledged":
            return _RECEIPT_WORDS.get(r.receipt, r.receipt)
        if r.by is None or r.on is None:
            return "已签收"
        return f"{r.by} {r.on.year}年{r.on.month}月{r.on.day}日签收"

    if len(receipts) == 1:
        return one(receipts[0])
    return "\n".join(f"{r.unit}：{one(r)}" for r in receipts)


def export_columns(layout: Layout, with_key: bool, below: bool = False) -> tuple[Column, ...]:
    """The layout's columns, then 进展 and 是否销号, then 下级整改 for a plan answered below,
    then 签收情况, then (for .xlsx) the hidden key."""
    middle = ((BELOW_COLUMN,) if below else ()) + (ACK_COLUMN,)
    return layout.columns + PROGRESS_COLUMNS + middle + ((KEY_COLUMN,) if with_key else ())


def export_groups(
    layout: Layout, problems: Iterable[ExportProblem], with_key: bool = True, below: bool = False
) -> Iterator[list[list[str]]]:
    """The ledger in :func:`export_columns`, formula-safe, a group of rows at a time, so a
    writer holds one group in memory however long the ledger.

    In a grouped layout consecutive problems of one category form a group: 序号 is the
    group's number (一, 二 …), 数量 its size, and the three cells are to be merged over
    the group as in the annex. Otherwise every problem is its own group. A title that is
    just the head of the description is left out of 具体问题, as in the annex's
    continuation rows; importing derives it again.
    """
    columns = export_columns(layout, with_key, below)
    rows_of = _rows_builder(layout, columns)
    number, group = 0, []
    for p in problems:
        if group and not (layout.grouped and group[-1].category == p.category):
            number += 1
            yield rows_of(number, group)
            group = []
        group.append(p)
    if group:
        yield rows_of(number + 1, group)


# the cells a row can have, in the order :func:`_rows_builder` lays them out before picking
_CELL_ORDER = (
    SEQ,
    CATEGORY,
    COUNT,
    NATURE,
    TITLE,
    DESCRIPTION,
    MEASURES,
    DEADLINE,
    UNITS,
    REMARKS,
    PROGRESS,
    CLOSED,
    ACKNOWLEDGED,
    KEY,
    BELOW,
)


def _rows_builder(layout: Layout, columns: tuple[Column, ...]) -> Callable[[int, list[ExportProblem]], list[list[str]]]:
    """The rows of a group (its number, its problems) in ``columns``: what the layout
    needs worked out once, not once per group (in a layout without groups, once per row)."""
    grouped, titled = layout.grouped, layout.column(TITLE) is not None
    pick = itemgetter(*(_CELL_ORDER.index(c.key) for c in columns))  # a layout has several columns: a tuple

    def rows_of(number: int, group: list[ExportProblem]) -> list[list[str]]:
        group_seq, count = chinese_number(number) if grouped else None, str(len(group))
        rows = []
        for p in group:
            cells = (
                group_seq or str(p.seq),
                p.category,
                count,
                NATURE_LABELS.get(p.nature, p.nature),
                "" if titled and _derived_title(p.title, p.description) else p.title,
                p.description if titled else p.description or p.title,
                p.measures,
                p.deadline_text,
                p.units,
                p.remarks,
                p.progress,
                "是" if p.closed else "否",
                p.acknowledged,
                p.key,
                p.below,
            )
            # every cell is text; most need no change (printable, no formula start), which
            # two C calls tell without neutralise()'s call per cell
            rows.append(
                [
                    v if type(v) is str and v.isprintable() and not v.startswith(_FORMULA_STARTS) else neutralise(v)
                    for v in pick(cells)
                ]
            )
        return rows

    return rows_of


def _derived_title(title: str, description: str) -> bool:
    """Whether ``title`` is :func:`short_title` of ``description``; a derived title is the
    head of the description, which is checked first (most titles are not, and the
    sentence split is the dearer test)."""
    head = title[:-1] if title.endswith("…") else title
    return description.lstrip().startswith(head) and title == short_title(description)


def merged_columns(layout: Layout) -> list[int]:
    """0-based columns merged over a group (序号/类型/数量 in a grouped layout)."""
    return [i for i, c in enumerate(layout.columns) if c.key in (SEQ, CATEGORY, COUNT)] if layout.grouped else []


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]  # every cell filled, as a CSV needs it
    merges: list[tuple[int, int, int]]  # (first row, last row, column), 0-based within rows


def export_table(
    layout: Layout, problems: Iterable[ExportProblem], with_key: bool = False, below: bool = False
) -> Table:
    """The whole ledger at once (the CSV, and tests): :func:`export_groups` joined."""
    rows: list[list[str]] = []
    merges = []
    for group in export_groups(layout, problems, with_key, below):
        if len(group) > 1:
            merges += [(len(rows), len(rows) + len(group) - 1, col) for col in merged_columns(layout)]
        rows += group
    return Table([c.label for c in export_columns(layout, with_key, below)], rows, merges)


# ---- printing -------------------------------------------------------------------------
def text_width(text: str) -> int:
    """Width in Excel's character units: a Chinese character takes two, a Latin one one.

    Counted from the UTF-8 length, which is C speed on a hundred thousand rows: one byte
    for ASCII (width 1), three for CJK (width 2), hence ``(bytes + characters) // 2``.
    """
    return (len(text.encode("utf-8")) + len(text)) // 2


def lines_needed(text: str, width: float) -> int:
    """Lines a wrapped cell of ``width`` characters needs for ``text`` (each paragraph
    on lines of its own; one character unit lost to the cell's margins)."""
    return _lines(text, _room(width))


def _room(width: float) -> int:
    return int(max(width - 1, 1))


def _lines(text: str, room: int) -> int:
    if "\n" not in text:  # one paragraph: the export's usual cell, a hundred thousand times
        return max(1, -(-text_width(text) // room))
    return sum(max(1, -(-text_width(par) // room)) for par in text.split("\n"))


LINE_POINTS = 15.0  # one line of 11 pt text, with leading, as Excel and LibreOffice lay it out


def row_height(values: Sequence[str], columns: Sequence[Column]) -> float:
    """Points a row of wrapped cells needs so that none is cut off when printed."""
    return heights(columns)(values)


def heights(columns: Sequence[Column]) -> Callable[[Sequence[str]], float]:
    """:func:`row_height` for the rows of one table, each column's room worked out once
    (the export asks it for every row)."""
    rooms = [(_room(c.width), _room(c.width) * 2) for c in columns]

    def height(values: Sequence[str]) -> float:
        lines = 1
        for value, (room, twice) in zip(values, rooms, strict=False):
            # a character is at most 2.5 units wide (a 4-byte one: (4 + 1) / 2), so a cell
            # of one paragraph no longer than 2/5 of its room is one line, told without
            # measuring it (序号, 数量, 是否销号, a short title or unit …)
            if len(value) * 5 > twice:
                # _lines, inline: a Python call per cell is most of what this costs
                n = -(-((len(value.encode()) + len(value)) // 2) // room) if "\n" not in value else _lines(value, room)
                if n > lines:
                    lines = n
            elif "\n" in value:
                lines = max(lines, _lines(value, room))
        return lines * LINE_POINTS + 3

    return height
