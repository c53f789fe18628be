"""Ledger files (台账 .xlsx/.csv) in and out, along their seams: the upload guard
(:mod:`.guard`), reading the sheet (:mod:`.reading`), resolving 责任单位 against the unit
tree (:mod:`.units`), preview and commit of an import (:mod:`.imports`), and the export
(:mod:`.export`)."""

from app.services.ledger.export import CSV_MIME, XLSX_MIME, Export, export_ledger
from app.services.ledger.imports import (
    Progress,
    commit_import,
    import_id,
    import_status,
    importable_plan,
    preview_import,
    progress_store,
    run_import,
    stale_imports,
)

__all__ = [
    "CSV_MIME",
    "XLSX_MIME",
    "Export",
    "Progress",
    "commit_import",
    "export_ledger",
    "import_id",
    "import_status",
    "importable_plan",
    "preview_import",
    "progress_store",
    "run_import",
    "stale_imports",
]
