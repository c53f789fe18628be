"""Errors a use case raises, in the use case's own terms. What each means in HTTP is
decided by the web and API layers, from one table (:func:`app.http.http_status`)."""

from __future__ import annotations


class ServiceError(Exception):
    """A refusal the person can act on: ``message`` says why, ``details`` which fields."""

    def __init__(self, message: str, details: list | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class Unauthorized(ServiceError):
    """Wrong username or password."""


class TooManyAttempts(ServiceError):
    """Too many sign-in attempts: wait before trying again."""


class NotFound(ServiceError):
    """Also used for things that exist outside the user's scope: no existence leak."""


class Forbidden(ServiceError):
    """The actor can see it but may not do this."""


class Conflict(ServiceError):
    """Someone else changed it first, or its state no longer allows this."""


class Invalid(ServiceError):
    """The input cannot be used as given."""


class TooLarge(ServiceError):
    """An upload or a file beyond the limits."""


def refusal(kind: str, message: str) -> ServiceError:
    """A state table's refusal (app.domain TransitionError.kind) as the service error."""
    return {"conflict": Conflict, "forbidden": Forbidden, "invalid": Invalid}[kind](message)
