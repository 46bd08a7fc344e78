"""The deployed HDTS's own messages (mrccdrc27/MAP-SYSTEM, hdts/helpdesk/core): the one place its ticket is mapped
onto DESIGN §3, and its ticket-status message read.

That HDTS publishes ``push_ticket_to_workflow.delay(ticket_data)``: ``tickets.tasks.receive_ticket`` on
TICKET_TASKS_PRODUCTION with the ticket as the first positional argument, in its model's field names. The mapping:

=========================================  =====================================================================
deployed HDTS                              DESIGN §3
=========================================  =====================================================================
``ticket_number`` (TX20261204123456)       ``ticket_id``
``subject``                                ``title``, cut to 200 characters
``category``, ``department``               the same
``sub_category`` (null outside IT)         ``sub_category``, null matched as empty ("")
``priority`` Critical/High/Medium/Low      ``priority``, case-insensitive; Critical → urgent; null → medium
``employee`` {first_name, last_name,       ``requester_name`` (first + last), ``requester_email`` (the
email}, ``employee_email``                 employee's email, else ``employee_email``)
``submit_date`` (ISO 8601 with offset)     ``created_at``
``attachments`` [{id, file_name,           ``attachments`` [{``filename`` (= file_name), ``file_path`` and the
file_type, file_size, file_path}]          rest as sent}]: files in HDTS's storage, by path (no URL)
``requested_budget`` (decimal string)      ``amount``
``asset_id`` / ``dynamic_data.asset_id``   ``asset_id`` (as a string)
checkout and return dates                  ``duration_days`` = return − checkout in days, at least 1; the dates
                                           from ``dynamic_data`` (checkout_date, return_date), else the
                                           flattened ``checkout_date``/``return_date``, else the model's
                                           ``check_out_date``/``expected_return_date``
=========================================  =====================================================================

Every other field (``status``, ``csat_rating``, ``feedback``, ``dynamic_data``, ``ticket_owner_id``, ...) stays
with the ticket as sent; HDTS's own priority is kept as ``hdts_priority``, and ``hdts_form`` = ``"deployed"`` marks a
ticket that came this way. Validation errors of a mapped ticket name HDTS's fields (``subject: ...``).

A ticket is in the deployed form when it has a ``ticket_number`` and no ``ticket_id``: two dict look-ups, so the
DESIGN form's intake costs what it did.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from tts_common.base import hdts, text

DEPLOYED_FORM = "deployed"
# What identifies each form: a ticket with neither is dead-lettered naming both.
DESIGN_KEY = "ticket_id"
DEPLOYED_KEY = "ticket_number"
DEPLOYED_REQUIRED: tuple[str, ...] = ("ticket_number", "subject", "category")

# DESIGN §3 field -> the deployed HDTS field it comes from (for error messages).
_SOURCE_FIELD = {
    "ticket_id": "ticket_number",
    "title": "subject",
    "requester_name": "employee",
    "requester_email": "employee.email",
    "created_at": "submit_date",
    "amount": "requested_budget",
}


class DeployedTicketError(ValueError):
    """A deployed-form ticket whose fields cannot be mapped (e.g. a return date that is no date)."""


def is_deployed_form(ticket: Any) -> bool:
    return type(ticket) is dict and DESIGN_KEY not in ticket and DEPLOYED_KEY in ticket


def matches_neither(ticket: Any) -> bool:
    """An object naming neither form's ticket id: its reason names what each form is missing."""
    return type(ticket) is dict and DESIGN_KEY not in ticket and DEPLOYED_KEY not in ticket


def neither_form_reason(ticket: dict[str, Any], design_errors: list[str]) -> str:
    missing = [field for field in DEPLOYED_REQUIRED if field not in ticket]
    return (
        "the ticket matches neither form: as DESIGN §3 (kwargs ticket_data): " + "; ".join(design_errors)
        + "; as the deployed HDTS's ticket (first positional argument): missing " + ", ".join(missing)
    )  # fmt: skip


def message_ticket_id(kwargs: dict[str, Any]) -> Any:
    """The ticket a ticket or status message (as kwargs, either form) is about: its ``ticket_id`` or
    ``ticket_number``; ``None`` if it names none."""
    for key in ("ticket_data", "status_data"):
        payload = kwargs.get(key)
        if isinstance(payload, dict):
            return payload.get(DESIGN_KEY, payload.get(DEPLOYED_KEY))
    return None


def _date(field: str, value: Any) -> date | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise DeployedTicketError(f"{field}: Enter a date (YYYY-MM-DD).")
    try:  # a date, or the date part of a date-time
        return date.fromisoformat(value[:10])
    except ValueError:
        raise DeployedTicketError(f"{field}: Enter a date (YYYY-MM-DD).") from None


def _first(*candidates: tuple[str, Any]) -> tuple[str, Any]:
    """The first (field, value) with a value; the last field named if none has one."""
    for field, value in candidates:
        if value not in (None, ""):
            return field, value
    return candidates[-1]


def _priority(value: Any) -> Any:
    if value is None:
        return "medium"
    if not isinstance(value, str):
        return value  # refused by the schema, by name
    value = value.strip().lower()
    return "urgent" if value == "critical" else value


def _attachment(item: Any) -> Any:
    if not isinstance(item, dict):
        return item  # refused by the schema
    return {**item, "filename": item.get("file_name")}


def to_design(ticket: dict[str, Any]) -> dict[str, Any]:
    """The deployed HDTS's ticket mapped onto DESIGN §3, every other field kept (see the module's table); raises
    :class:`DeployedTicketError` for asset dates that are no dates."""
    employee: dict[str, Any] = ticket["employee"] if isinstance(ticket.get("employee"), dict) else {}
    dynamic: dict[str, Any] = ticket["dynamic_data"] if isinstance(ticket.get("dynamic_data"), dict) else {}
    mapped = {
        **ticket,
        "hdts_form": DEPLOYED_FORM,
        "hdts_priority": ticket.get("priority"),
        "ticket_id": ticket.get("ticket_number"),
        "title": ticket["subject"][: hdts.TITLE_MAX_LENGTH] if isinstance(ticket.get("subject"), str) else None,
        "sub_category": "" if ticket.get("sub_category") is None else ticket["sub_category"],
        "priority": _priority(ticket.get("priority")),
        "created_at": ticket.get("submit_date"),
    }
    name = " ".join(str(part) for part in (employee.get("first_name"), employee.get("last_name")) if part)
    if name:
        mapped["requester_name"] = name
    email = employee.get("email") or ticket.get("employee_email")
    if email:
        mapped["requester_email"] = email
    if isinstance(ticket.get("attachments"), list):
        mapped["attachments"] = [_attachment(item) for item in ticket["attachments"]]
    if ticket.get("requested_budget") is not None:
        mapped["amount"] = str(ticket["requested_budget"])
    _, asset_id = _first(("asset_id", ticket.get("asset_id")), ("dynamic_data.asset_id", dynamic.get("asset_id")))
    if asset_id not in (None, ""):
        mapped["asset_id"] = str(asset_id)
    checkout = _date(
        *_first(
            ("dynamic_data.checkout_date", dynamic.get("checkout_date")),
            ("checkout_date", ticket.get("checkout_date")),
            ("check_out_date", ticket.get("check_out_date")),
        )
    )
    returned = _date(
        *_first(
            ("dynamic_data.return_date", dynamic.get("return_date")),
            ("return_date", ticket.get("return_date")),
            ("expected_return_date", ticket.get("expected_return_date")),
        )
    )
    if checkout is not None and returned is not None:
        mapped["duration_days"] = max(1, (returned - checkout).days)
    return mapped


def source_field(field: str) -> str:
    """The deployed HDTS's name for a DESIGN §3 field in an error (``title`` -> ``subject``; ``attachments.0.filename``
    -> ``attachments.0.file_name``)."""
    head, _, rest = field.partition(".")
    if head == "attachments" and rest.endswith(".filename"):
        return field[: -len("filename")] + "file_name"
    return _SOURCE_FIELD.get(head, head) + (f".{rest}" if rest else "")


# --- Its ticket-status message ---------------------------------------------------------------------------------
# ``tts.tasks.receive_hdts_ticket_status`` args=[{ticket_number, status, csat_rating?, feedback?, date_completed?}]
CLOSED = "Closed"
WITHDRAWN = "Withdrawn"
STATUSES = (CLOSED, WITHDRAWN)
CSAT_RANGE = range(1, 6)
FEEDBACK_MAX_LENGTH = 255  # HDTS's own column


def status_errors(payload: Any) -> list[str]:
    """What is wrong with a ticket-status message's payload (empty: it can be applied)."""
    if not isinstance(payload, dict):
        return ["the status message's payload (first positional argument) must be an object"]
    errors = []
    number = payload.get("ticket_number")
    if not isinstance(number, str) or not number or len(number) > hdts.NAME_MAX_LENGTH:
        errors.append("ticket_number: must be a non-empty string of at most 255 characters")
    if payload.get("status") not in STATUSES:
        errors.append("status: must be one of: " + ", ".join(STATUSES))
    rating = payload.get("csat_rating")
    if rating is not None and (type(rating) is not int or rating not in CSAT_RANGE):
        errors.append("csat_rating: must be an integer from 1 to 5, or null")
    feedback = payload.get("feedback")
    if feedback is not None and (
        not isinstance(feedback, str) or len(feedback) > FEEDBACK_MAX_LENGTH or text.unstorable_message(feedback)
    ):
        errors.append(f"feedback: must be storable text of at most {FEEDBACK_MAX_LENGTH} characters, or null")
    completed = payload.get("date_completed")
    if completed is not None and not (isinstance(completed, str) and hdts.FORMAT_CHECKER.conforms(completed, "date-time")):
        errors.append("date_completed: must be an ISO 8601 date-time with a time zone, or null")
    return errors
