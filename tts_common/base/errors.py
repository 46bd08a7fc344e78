"""The errors business code raises: what went wrong, never how HTTP says it.

Services and selectors raise these (not DRF's exceptions); :func:`tts_common.http.api.exception_handler` turns each into
the API's error body with its status, in one place. Management commands and tasks can catch them like any exception.
"""
from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """``message`` is the body's ``detail``; ``code`` its stable machine-readable ``code``; ``fields`` the field
    errors (``{field: [messages]}``); ``extra`` facts the client needs to act on it, merged into the body."""

    default_message = "The request failed."
    default_code = "error"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        fields: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.code = code or self.default_code
        self.fields = fields
        self.extra = extra or {}
        super().__init__(self.message)


class Invalid(ApplicationError):
    """The input is wrong: ``fields`` says where (``{field: [messages]}``; a nested object's value nests the same)."""

    default_message = "Invalid input."
    default_code = "invalid"

    def __init__(self, fields: dict[str, Any]) -> None:
        super().__init__(fields=fields)


class NotFound(ApplicationError):
    default_message = "Not found."
    default_code = "not_found"


class Forbidden(ApplicationError):
    default_message = "You do not have permission to perform this action."
    default_code = "permission_denied"


class Conflict(ApplicationError):
    """The request is valid but the current state of what it names does not allow it."""

    default_message = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class Unavailable(ApplicationError):
    """Something the request needs is busy or down: the client may retry after ``retry_after`` seconds."""

    default_message = "The service is busy or unavailable; try again shortly."
    default_code = "unavailable"

    def __init__(self, message: str | None = None, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
