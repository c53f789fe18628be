"""HTTP helpers shared by the API and the pages."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from flask import Response, request, send_file
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter
from werkzeug.wsgi import wrap_file

from app.schemas import CONTROL_MESSAGE, DB_INT_MAX, control_character
from app.services.errors import (
    Conflict,
    Forbidden,
    Invalid,
    ServiceError,
    TooLarge,
    TooManyAttempts,
    Unauthorized,
)
from app.services.errors import (
    NotFound as Missing,
)
from app.services.ledger import Export

_CHUNK = 64 * 1024  # bytes of a streamed download read at a time

# What each service error means in HTTP (status, the API's error code): the one table the
# API and the pages answer from. Services know nothing of it.
_HTTP: dict[type[ServiceError], tuple[int, str]] = {
    Unauthorized: (401, "unauthorized"),
    Forbidden: (403, "forbidden"),
    Missing: (404, "not_found"),
    Conflict: (409, "conflict"),
    TooLarge: (413, "too_large"),
    Invalid: (422, "invalid"),
    TooManyAttempts: (429, "too_many_requests"),
}


def http_status(err: ServiceError) -> tuple[int, str]:
    """The HTTP status and API error code for a service's refusal (400 for any other)."""
    for cls in type(err).__mro__:
        if cls in _HTTP:
            return _HTTP[cls]
    return 400, "bad_request"


class DbIntConverter(IntegerConverter):
    """``<int:…>`` in every route: a number the database can hold, or no such page (404)
    rather than a driver error for /tasks/99999999999999999999. (Not Werkzeug's ``max``:
    a number past it makes another method's rule on the same path answer 405.)"""

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        if number > DB_INT_MAX:
            raise NotFound()
        return number


def refuse_control_characters() -> None:
    """The path, query string, form fields and upload names carry no control characters
    (JSON bodies are checked field by field by the schemas): 422 naming the field."""
    fields = [("path", request.path), *request.args.items(multi=True), *request.form.items(multi=True)]
    fields += [(name, f.filename or "") for name, f in request.files.items(multi=True)]
    for name, value in fields:
        if char := control_character(name + value):
            detail = {"field": name, "message": f"{name}：{CONTROL_MESSAGE}（{char}）", "type": "control_character"}
            raise Invalid("{field}：{what}（{char}）。", [detail], field=name, what=CONTROL_MESSAGE, char=char)


def attachment(export: Export) -> Response:
    """A generated file as a download: Chinese file name (RFC 5987), never sniffed or cached.
    A file on disk (a ledger) is sent in chunks as the client reads and closed after."""
    if isinstance(export.content, bytes):
        resp = Response(export.content, mimetype=export.mimetype)
    else:
        size = os.fstat(export.content.fileno()).st_size
        body = wrap_file(request.environ, export.content, buffer_size=_CHUNK)
        resp = Response(body, mimetype=export.mimetype, direct_passthrough=True)
        resp.content_length = size
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
