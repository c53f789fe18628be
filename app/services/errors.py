"""Errors a use case raises; the web and API layers turn them into HTTP answers."""

from __future__ import annotations


class ServiceError(Exception):
    status = 400

    def __init__(self, message: str, details: list | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class Unauthorized(ServiceError):
    """Wrong username or password."""

    status = 401


class TooManyAttempts(ServiceError):
    status = 429


class NotFound(ServiceError):
    """Also used for things that exist outside the user's scope: no existence leak."""

    status = 404


class Forbidden(ServiceError):
    status = 403


class Conflict(ServiceError):
    status = 409


class Invalid(ServiceError):
    status = 422


class TooLarge(ServiceError):
    status = 413


def refusal(kind: str, message: str) -> ServiceError:
    """A state table's refusal (app.domain TransitionError.kind) as the service error."""
    return {"conflict": Conflict, "forbidden": Forbidden, "invalid": Invalid}[kind](message)
