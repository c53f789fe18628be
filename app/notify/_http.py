"""POST a JSON body and sort the outcome into what a channel needs to decide.

Shared by the robots and the webhook. Only the standard library: ``urllib.request``
with redirects turned off, because following a 301/302 turns a POST into a body-less
GET that can come back 200 and look like a delivery.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from app.notify.base import Result


@dataclass(frozen=True)
class Reply:
    """An HTTP answer that arrived: its status and raw body."""

    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 3xx then surfaces as an HTTPError with its own status


_opener = urllib.request.build_opener(_NoRedirect)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Reply | Result:
    """POST ``body``; a Reply for any HTTP status, else the Result of what went wrong.

    Connection refused, DNS failure, TLS failure or a timeout while connecting or
    sending mean the endpoint never got the request: temporary, and the rest of the batch
    waits. A timeout while waiting for the answer means it may well have got it: unknown
    (retried at most once, with the same idempotency key). A URL urllib cannot use (or a
    header that is not Latin-1) is a fault no retry will cure, hence permanent.
    """
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8", **headers}
    )
    try:
        try:
            with _opener.open(request, timeout=timeout) as response:
                return Reply(response.status, response.read())
        except urllib.error.HTTPError as err:
            with err:  # reading the error body can time out too: the outer handlers catch that
                return Reply(err.code, err.read())
    except ValueError as err:
        return Result.permanent(f"request cannot be sent: {err}")
    except urllib.error.URLError as err:  # raised while connecting or sending (urllib wraps those)
        return Result.temporary(f"no answer: {err.reason}", stop=True)
    except TimeoutError:
        return Result.unknown(f"sent, but no answer within {timeout:g} s: the endpoint may have taken it")
    except (OSError, http.client.HTTPException) as err:
        return Result.temporary(f"no answer: {type(err).__name__}: {err}", stop=True)


def classify_status(status: int) -> Result | None:
    """The verdict an HTTP status alone decides, or None for 2xx (the body decides).

    408 and 429 ask the client to come back later and 5xx is the server's own trouble:
    temporary. Any other 3xx/4xx means the request or the URL is wrong: permanent.
    """
    if 200 <= status < 300:
        return None
    if status in (408, 429) or status >= 500:
        return Result.temporary(f"HTTP {status}", stop=True)
    return Result.permanent(f"HTTP {status}")


def dumps(payload: Any) -> bytes:
    """Compact UTF-8 JSON: Chinese stays readable on the wire and in receivers' logs."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=_iso).encode("utf-8")


def _iso(value: Any) -> str:
    """Let datetimes and dates in a webhook's ``data`` travel as ISO 8601 strings."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
