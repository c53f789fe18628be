"""HTTP helpers shared by the API and the pages."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from flask import Response, send_file

from app.services.ledger import Export


def attachment(export: Export) -> Response:
    """A generated file as a download: Chinese file name (RFC 5987), never sniffed or cached."""
    resp = Response(export.content, mimetype=export.mimetype)
    resp.headers["Content-Disposition"] = (
        f"attachment; filename=\"{export.ascii_filename}\"; filename*=UTF-8''{quote(export.filename, safe='')}"
    )
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


def stored_file(path: Path, content_type: str, name: str, inline: bool = False) -> Response:
    """An uploaded file (evidence, a report) as it was stored: a download under its own
    name unless ``inline`` (images checked at upload), never sniffed, and sandboxed so a
    file opened in the browser runs nothing."""
    resp = send_file(path, mimetype=content_type, as_attachment=not inline, download_name=name)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return resp
