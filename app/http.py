"""HTTP helpers shared by the API and the pages."""

from __future__ import annotations

from urllib.parse import quote

from flask import Response

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
