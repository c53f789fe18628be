"""Errors a use case raises, in the use case's own terms. What each means in HTTP is
decided by the web and API layers, from one table (:func:`app.http.http_status`).

A refusal is worded in Chinese as a template with ``{name}`` places and its values, e.g.
``NotFound("任务 {id} 不存在。", id=7)``: the template is the key of the pages' catalogue
(app.web.i18n.EN), so a page switched to English shows the English text with the same
values filled in (:func:`app.web.i18n.refusal`), while ``message`` stays the Chinese."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Words:
    """A value already worded in both languages (a domain rule's own bilingual reason)."""

    zh: str
    en: str

    def __str__(self) -> str:
        return self.zh


Part = tuple[str, dict]  # a template and its values


class ServiceError(Exception):
    """A refusal the person can act on: ``message`` says why, ``details`` which fields."""

    def __init__(self, message: str, details: list | None = None, /, **params) -> None:
        self.parts: tuple[Part, ...] = ((message, params),)
        self.details = details or []
        super().__init__(message)

    @property
    def message(self) -> str:
        """The refusal in Chinese, its values filled in."""
        return "".join(template.format(**params) if params else template for template, params in self.parts)

    def __str__(self) -> str:
        return self.message

    def after(self, lead: str, **params) -> ServiceError:
        """The same refusal behind a lead saying where it happened (``第 {row} 行：``)."""
        err = type(self)(lead, self.details, **params)
        err.parts = ((lead, params), *self.parts)
        return err

    def then(self, *parts: Part) -> ServiceError:
        """The refusal followed by more parts (reasons listed after it)."""
        self.parts = (*self.parts, *parts)
        return self

    def stored(self) -> list:
        """The parts as JSON, for a refusal read later in the reader's language (a
        ledger import's job fails after the request that started it has answered)."""
        return [[template, {k: _stored(v) for k, v in params.items()}] for template, params in self.parts]

    @classmethod
    def from_stored(cls, stored: list) -> ServiceError:
        """The refusal :meth:`stored` kept."""
        err = cls("")
        err.parts = tuple((template, {k: _loaded(v) for k, v in params.items()}) for template, params in stored)
        return err


def _stored(value):
    if isinstance(value, Words):
        return {"zh": value.zh, "en": value.en}
    return value if isinstance(value, int | float | str | None) else str(value)


def _loaded(value):
    return Words(value["zh"], value["en"]) if isinstance(value, dict) else value


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


def refusal(err) -> ServiceError:
    """A state table's refusal (app.domain TransitionError: its kind, template and values)
    as the service error."""
    cls = {"conflict": Conflict, "forbidden": Forbidden, "invalid": Invalid}[err.kind]
    return cls(err.template, **err.params)
