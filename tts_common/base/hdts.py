"""The HDTS ticket of DESIGN §3: its JSON Schema (draft-07), a precompiled validator, and the priority mapping.

Shared by the HTTP intake (ticket_service) and the queue consumer (workflow_api), so both accept exactly the same
tickets. Bounds the contract leaves open, chosen so a ticket always fits the stores: identifiers are non-empty and
at most 255 characters; optional fields may be ``null`` (HDTS serialisers emit that for blanks); unknown extra
properties are allowed (HDTS may add fields without breaking us); no text anywhere in a ticket may hold a NUL or a
lone surrogate (the database cannot store either).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from tts_common.base import text

PRIORITIES: tuple[str, ...] = ("low", "medium", "high", "urgent")
TITLE_MAX_LENGTH = 200
MAX_DURATION_DAYS = 3650
NAME_MAX_LENGTH = 255

_name = {"type": "string", "minLength": 1, "maxLength": NAME_MAX_LENGTH}
_optional_name = {"type": ["string", "null"], "maxLength": NAME_MAX_LENGTH}

TICKET_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "$id": "https://tts.example/schemas/hdts-ticket.json",
    "title": "HDTS ticket",
    "type": "object",
    "required": ["ticket_id", "title", "category", "sub_category", "priority"],
    "properties": {
        "ticket_id": _name,
        "title": {"type": "string", "minLength": 1, "maxLength": TITLE_MAX_LENGTH},
        "category": _name,
        "sub_category": _name,
        "priority": {"type": "string", "enum": list(PRIORITIES)},
        "description": {"type": ["string", "null"]},
        "department": _optional_name,
        "requester_email": {"type": ["string", "null"], "format": "email", "maxLength": 254},
        "requester_name": _optional_name,
        "created_at": {"type": ["string", "null"], "format": "date-time"},
        "attachments": {
            "type": ["array", "null"],
            "items": {
                "type": "object",
                "required": ["filename", "url"],
                "properties": {
                    "filename": _name,
                    "url": {"type": "string", "format": "uri", "maxLength": 2048},
                },
            },
        },
        # For requests that reach AMS (an asset reservation) and BMS (a budget check); a step that needs one that is
        # absent waits for a person (the asset chosen on the task page; the budget decided by an admin).
        "asset_id": _optional_name,
        "duration_days": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_DURATION_DAYS},
        "amount": {"type": ["string", "number", "null"], "format": "decimal", "minimum": 0},
        "currency": {"type": ["string", "null"], "format": "currency"},
        "justification": {"type": ["string", "null"]},
    },
}

# --- Format checks ------------------------------------------------------------------------------------------------
# jsonschema checks "uri" and "date-time" only when optional packages (rfc3987, rfc3339-validator) are installed, and
# "email" only for an "@". Rather than add dependencies, these three are checked here; every other format is left
# to jsonschema's defaults.
FORMAT_CHECKER = FormatChecker(formats=())

# RFC 5322 dot-atom local part @ a domain of DNS labels with a dot (no quoted local parts or IP literals: HDTS
# requesters are ordinary mailboxes).
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
)
# RFC 3986 absolute URI: a scheme, then only characters a URI may contain (unreserved, reserved, %-escapes).
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+")
# Hierarchical schemes must name a host: "http:foo" is a URI by the grammar but never a fetchable attachment.
_HOST_REQUIRED = re.compile(r"(?:https?|ftp)://[^/?#@]*?[^/?#:@]", re.IGNORECASE)
# RFC 3339 date-time (the draft-07 "date-time"): a time zone is required, so SLA deadlines are unambiguous.
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})"
)


def _format(name: str) -> Callable[[Callable[[object], bool]], Callable[[object], bool]]:
    """Register a format check with FORMAT_CHECKER (jsonschema's own decorator, typed)."""

    def register(check: Callable[[object], bool]) -> Callable[[object], bool]:
        FORMAT_CHECKER.checks(name)(check)
        return check

    return register


@_format("email")
def _is_email(value: object) -> bool:
    return not isinstance(value, str) or _EMAIL.fullmatch(value) is not None


@_format("uri")
def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if _URI.fullmatch(value) is None:
        return False
    scheme = value.split(":", 1)[0].lower()
    return scheme not in ("http", "https", "ftp") or _HOST_REQUIRED.match(value) is not None


@_format("date-time")
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if _DATE_TIME.fullmatch(value) is None:
        return False
    try:  # the pattern admits impossible dates such as 2024-02-30
        # Room for an SLA (at most 366 days) after it.
        return parse_date_time(value).year < datetime.max.year
    except (ValueError, OverflowError):  # OverflowError: 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        return False


# A non-negative decimal as a string ("1299.00"): at most 13 digits before the point and 4 after.
_DECIMAL = re.compile(r"\d{1,13}(?:\.\d{1,4})?")
_CURRENCY = re.compile(r"[A-Z]{3}")  # ISO 4217 alphabetic code


@_format("decimal")
def _is_decimal(value: object) -> bool:
    return not isinstance(value, str) or _DECIMAL.fullmatch(value) is not None


@_format("currency")
def _is_currency(value: object) -> bool:
    return not isinstance(value, str) or _CURRENCY.fullmatch(value) is not None


def parse_date_time(value: str) -> datetime:
    """A ``date-time`` of the ticket as an aware datetime in UTC (PostgreSQL refuses offsets past ±15:59, which
    RFC 3339 allows; Python's parser wants an upper-case ``T`` and ``Z``)."""
    return datetime.fromisoformat(value.upper().replace("Z", "+00:00")).astimezone(UTC)


def _deployed_schema() -> dict[str, Any]:
    """The schema a ticket of the deployed HDTS is checked against once mapped (tts_common.base.hdts_deployed): DESIGN
    §3's, except that its sub-category may be empty (HDTS leaves it null outside IT Support) and its attachments are
    files in HDTS's storage, named by their path there rather than by a URL."""
    properties = dict(TICKET_SCHEMA["properties"])
    properties["sub_category"] = {"type": "string", "maxLength": NAME_MAX_LENGTH}
    properties["attachments"] = {
        "type": ["array", "null"],
        "items": {
            "type": "object",
            "required": ["filename", "file_path"],
            "properties": {"filename": _name, "file_path": {"type": "string", "minLength": 1, "maxLength": 1024}},
        },
    }
    return {**TICKET_SCHEMA, "$id": "https://tts.example/schemas/hdts-deployed-ticket.json", "properties": properties}


DEPLOYED_TICKET_SCHEMA = _deployed_schema()

Draft7Validator.check_schema(TICKET_SCHEMA)
Draft7Validator.check_schema(DEPLOYED_TICKET_SCHEMA)
# Compiled once: validation is on the hot path of intake (thousands of tickets per second).
_VALIDATOR = Draft7Validator(TICKET_SCHEMA, format_checker=FORMAT_CHECKER)
_DEPLOYED_VALIDATOR = Draft7Validator(DEPLOYED_TICKET_SCHEMA, format_checker=FORMAT_CHECKER)


def _compile_fast_check(schema: dict[str, Any]) -> Callable[[Any], bool] | None:
    """A yes/no check of the same schema compiled to Python by fastjsonschema (~5 µs a ticket against jsonschema's
    ~110 µs), with the same three format checks. It only decides *valid*: a ticket it rejects is validated again
    by jsonschema, which alone words the errors (and has the last word). tests/tts_common check that both agree."""
    try:
        import fastjsonschema
    except ImportError:  # an environment without it validates with jsonschema alone
        return None
    validate = fastjsonschema.compile(
        schema,
        formats={
            "email": _is_email, "uri": _is_uri, "date-time": _is_date_time, "decimal": _is_decimal,
            "currency": _is_currency,
        },
    )  # fmt: skip

    def check(ticket: Any) -> bool:
        try:
            validate(ticket)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    return check


_FAST_CHECK = _compile_fast_check(TICKET_SCHEMA)
_DEPLOYED_FAST_CHECK = _compile_fast_check(DEPLOYED_TICKET_SCHEMA)

_FORMAT_MESSAGES = {
    "email": "Enter a valid email address.",
    "uri": "Enter a valid absolute URI.",
    "date-time": "Enter an ISO 8601 date-time with a time zone (e.g. 2025-01-31T09:30:00Z), before year 9999.",
    "decimal": "Enter a decimal number as a string (e.g. 1299.00).",
    "currency": "Enter an ISO 4217 currency code (e.g. PHP).",
}
_TYPE_NAMES = {
    "string": "a string", "array": "a list", "object": "an object", "null": "null", "integer": "an integer",
    "number": "a number",
}  # fmt: skip


def _message(error: ValidationError) -> str:
    """A short, stable message (jsonschema's own repeat the offending value, which may be huge or sensitive)."""
    validator, expected = error.validator, error.validator_value
    if validator == "required":
        return "This field is required."
    if validator == "type":
        kinds = [expected] if isinstance(expected, str) else expected
        return "Must be " + " or ".join(_TYPE_NAMES.get(kind, kind) for kind in kinds) + "."
    if validator == "enum":
        return "Must be one of: " + ", ".join(expected) + "."
    if validator == "maxLength":
        return f"Ensure this field has no more than {expected} characters."
    if validator == "minLength":
        return "This field may not be blank."
    if validator in ("minimum", "maximum"):
        return f"Ensure this value is {'at least' if validator == 'minimum' else 'at most'} {expected}."
    if validator == "format":
        return _FORMAT_MESSAGES.get(expected, f"Must be a valid {expected}.")
    return str(error.message)


def _field(error: ValidationError) -> str:
    """Dotted path of the offending field (``attachments.0.url``); a missing field is named by itself."""
    path = [str(part) for part in error.absolute_path]
    if error.validator == "required":
        path.append(re.match(r"'(.*)' is a required property", error.message).group(1))  # type: ignore[union-attr]
    return ".".join(path) or "non_field_errors"


def _unstorable_text(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(field, message) for each string or property name, anywhere in the ticket (extra properties too), that the
    database could not store: such a ticket could never become a task."""
    if isinstance(value, str):
        message = text.unstorable_message(value)
        if message:
            yield path or "non_field_errors", message
    elif isinstance(value, dict):
        for key, item in value.items():
            message = text.unstorable_message(key) if isinstance(key, str) else None
            if message:  # the name itself is not echoed: it is the unstorable text
                yield path or "non_field_errors", f"Property names: {message}"
            else:
                yield from _unstorable_text(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unstorable_text(item, f"{path}.{index}" if path else str(index))


def ticket_field_errors(ticket: Any, *, deployed: bool = False) -> dict[str, list[str]]:
    """Validation errors by field (the shape of a 400 response's ``errors``); empty when the ticket is valid.
    ``deployed``: a ticket of the deployed HDTS, mapped onto DESIGN §3 (:data:`DEPLOYED_TICKET_SCHEMA`)."""
    errors: dict[str, list[str]] = {}
    fast_check, validator = (_DEPLOYED_FAST_CHECK, _DEPLOYED_VALIDATOR) if deployed else (_FAST_CHECK, _VALIDATOR)
    if fast_check is None or not fast_check(ticket):
        for error in sorted(validator.iter_errors(ticket), key=lambda e: list(map(str, e.absolute_path))):
            errors.setdefault(_field(error), []).append(_message(error))
    for field, message in _unstorable_text(ticket):
        errors.setdefault(field, []).append(message)
    return errors


def validate_ticket(ticket: Any) -> list[str]:
    """Human-readable validation errors (``"title: This field is required."``); empty when the ticket is valid."""
    return [f"{field}: {msg}" for field, messages in ticket_field_errors(ticket).items() for msg in messages]


# --- Priority mapping ---------------------------------------------------------------------------------------------
DEFAULT_PRIORITY_MAP: dict[str, str] = {"high": "urgent", "medium": "high", "low": "medium", "urgent": "urgent"}


class _PriorityMap(Mapping[str, str]):
    """HDTS priority → internal priority: the defaults, overridden per key by ``settings.HDTS_PRIORITY_MAP``.

    Read on every access (not at import) so that a deploy's setting and tests' ``override_settings`` apply.
    """

    def _current(self) -> dict[str, str]:
        from django.conf import settings

        overrides = getattr(settings, "HDTS_PRIORITY_MAP", None) or {}
        unknown = set(overrides) - set(PRIORITIES)
        if unknown:
            raise ValueError(f"HDTS_PRIORITY_MAP has unknown HDTS priorities: {sorted(unknown)}")
        return {**DEFAULT_PRIORITY_MAP, **overrides}

    def __getitem__(self, hdts_priority: str) -> str:
        return self._current()[hdts_priority]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())

    def __repr__(self) -> str:
        return f"PRIORITY_MAP({self._current()!r})"


PRIORITY_MAP: Mapping[str, str] = _PriorityMap()


def internal_priority(hdts_priority: str) -> str:
    """The internal priority for a (validated) HDTS priority."""
    return PRIORITY_MAP[hdts_priority]
