"""Ledger files (台账 .xlsx/.csv) in and out, along their seams: the upload guard
(:mod:`.guard`), reading the sheet (:mod:`.reading`), resolving 责任单位 against the unit
tree (:mod:`.units`), preview and commit of an import (:mod:`.imports`), and the export
(:mod:`.export`)."""

from app.services.ledger.export import CSV_MIME, XLSX_MIME, Export, export_ledger
from app.services.ledger.imports import commit_import, import_status, preview_import

__all__ = ["CSV_MIME", "XLSX_MIME", "Export", "commit_import", "export_ledger", "import_status", "preview_import"]
