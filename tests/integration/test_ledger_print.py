"""An exported ledger prints well: checked from the file itself, then printed by
LibreOffice (headless) to PDF and rendered to PNG by poppler, saved beside the browser
screenshots in test-artifacts/screenshots/ (``make office`` installs both)."""

from __future__ import annotations

import io
import math
import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from tests.conftest import need_service
from tests.fixtures.ledgers.generated import large_ledger
from tests.integration.test_ledger_io import export, imported, new_plan, preview

pytestmark = pytest.mark.presigned
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
HEADER_ROW = {"sanmenxia": 2, "yuzhou": 3}


def char_units(text: str) -> int:
    """Width in Excel character units, counted independently of the app's own rule:
    anything from the CJK blocks on takes two."""
    return sum(2 if ord(ch) >= 0x2E80 else 1 for ch in text)


def min_height(text: str, width: float) -> float:
    """The least a row needs for ``text`` wrapped in a column ``width`` wide: 12 pt a line
    (11 pt type with no leading at all), one line per paragraph at least."""
    lines = sum(max(1, math.ceil(char_units(par) / width)) for par in text.split("\n"))
    return 12 * lines


def office_pdf(src: Path) -> tuple[Path, str]:
    """``src`` printed to PDF beside it by LibreOffice (headless), and the PDF's text."""
    soffice, pdftotext = shutil.which("soffice"), shutil.which("pdftotext")
    if not (soffice and pdftotext and shutil.which("pdftoppm")):
        need_service("LibreOffice and poppler-utils", "run `make office` to install them")
    profile = (src.parent / "lo-profile").as_uri()  # a profile of its own: parallel runs never share one
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={profile}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(src.parent),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    pdf = src.with_suffix(".pdf")
    assert pdf.exists(), f"LibreOffice could not open {src.name}"
    text = subprocess.run([pdftotext, "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    return pdf, text


def pngs(pdf: Path, stem: str, options: list[str]) -> list[Path]:
    """The PDF's pages as PNG beside the browser screenshots: ``<stem>-<page>.png``."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob(f"{stem}-*.png"):
        old.unlink()
    subprocess.run([shutil.which("pdftoppm"), "-png", *options, str(pdf), str(SHOTS / stem)], check=True, timeout=60)
    images = sorted(SHOTS.glob(f"{stem}-*.png"))
    assert images, f"no page of {pdf.name} rendered"
    return images


@pytest.fixture
def printed_plan(api) -> int:
    """A plan of 40 problems with long texts, enough for several printed pages."""
    pid = new_plan(api, "smx_deputy", "2022-06-07", "三建〔2022〕187号")
    body = preview(api, pid, "smx_deputy", large_ledger(40)).get_json()
    assert body["errors_count"] == 0
    imported(api, pid, "smx_deputy", body["token"])
    return pid


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("layout", ["sanmenxia", "yuzhou"])
def test_every_row_of_an_exported_ledger_is_tall_enough_for_its_wrapped_text(api, printed_plan, layout):
    ws = load_workbook(io.BytesIO(export(api, printed_plan, "smx_deputy", layout).data)).active
    widths = {col: dim.width for col, dim in ws.column_dimensions.items()}
    checked = 0
    for row in ws.iter_rows(min_row=HEADER_ROW[layout]):
        for cell in row:
            if not isinstance(cell.value, str) or ws.column_dimensions[get_column_letter(cell.column)].hidden:
                continue
            merged = next((m for m in ws.merged_cells.ranges if cell.coordinate in m), None)
            if merged and merged.min_row != merged.max_row:
                continue  # spread over the group's rows
            width = (
                sum(widths[get_column_letter(c)] for c in range(merged.min_col, merged.max_col + 1))
                if merged
                else widths[get_column_letter(cell.column)]
            )
            height = ws.row_dimensions[cell.row].height
            assert height is not None and height >= min_height(cell.value, width), (cell.coordinate, height)
            checked += 1
    assert checked > 40 * 5


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("layout", ["sanmenxia", "yuzhou"])
def test_an_exported_ledger_prints_on_a4_landscape_with_its_header_on_every_page(api, printed_plan, layout, tmp_path):
    r = export(api, printed_plan, "smx_deputy", layout)
    ws = load_workbook(io.BytesIO(r.data)).active
    header = HEADER_ROW[layout]
    assert ws.print_title_rows.replace("$", "") == f"{header}:{header}"
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.paperSize == 9  # A4
    assert ws.sheet_properties.pageSetUpPr.fitToPage and (ws.page_setup.fitToWidth or 1) == 1  # 1 when left out
    assert ws.page_setup.fitToHeight == 0
    assert "&P" in ws.oddFooter.center.text and "&N" in ws.oddFooter.center.text

    xlsx = tmp_path / f"台账-{layout}.xlsx"
    xlsx.write_bytes(r.data)
    pdf, text = office_pdf(xlsx)
    pages = text.split("\f")[:-1]
    assert len(pages) >= 2, "forty long problems take more than one page"
    for number, page in enumerate(pages, start=1):
        assert "序号" in page and "责任单位" in page, f"page {number} repeats the header"
        assert f"第 {number} 页，共 {len(pages)} 页" in page
    if layout == "yuzhou":
        assert "单位（盖章）" in pages[0] and "备注" in pages[-1]
    assert "记录链校验值（SM3）：sm3:" in pages[-1], "the chain head is printed under the table"
    images = pngs(pdf, f"ledger-print-{layout}", ["-r", "70", "-f", "1", "-l", "2"])
    assert all(p.stat().st_size > 10_000 for p in images)
