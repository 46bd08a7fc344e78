"""Validation of the two consumed messages (DESIGN §2) into :class:`~notification_service.inapp.NotificationDraft`.

Anything that can never succeed raises :class:`~tts_common.messaging.worker.PermanentError`: the consumer logs and records
the message and moves on. Unknown extra kwargs are ignored, so producers can add fields without breaking us.
"""
from __future__ import annotations

from typing import Any

from tts_common.contracts.messages import NOTIFICATION_TYPES
from tts_common.messaging.worker import PermanentError

from .services.inapp import NotificationDraft

SUBJECT_MAX = 255
RELATED_ID_MAX = 100
DEDUP_KEY_MAX = 200


def inapp_draft(kwargs: dict[str, Any]) -> NotificationDraft:
    """``notifications.create_inapp``: user_id, subject, message, notification_type, related ids, metadata."""
    notification_type = kwargs.get("notification_type")
    if notification_type not in NOTIFICATION_TYPES:
        raise PermanentError(f"notification_type: unknown type {notification_type!r}")
    metadata = kwargs.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise PermanentError("metadata: must be an object")
    message = kwargs.get("message")
    if message is None:
        message = ""
    if not isinstance(message, str):
        raise PermanentError("message: must be a string")
    return NotificationDraft(
        user_id=_user_id(kwargs),
        notification_type=notification_type,
        subject=_subject(kwargs.get("subject")),
        message=message,
        related_task_id=_related_id(kwargs, "related_task_id"),
        related_ticket_id=_related_id(kwargs, "related_ticket_id"),
        metadata=metadata,
        producer_key=_producer_key(kwargs),
    )


def assignment_draft(kwargs: dict[str, Any]) -> NotificationDraft:
    """``task.send_assignment_notification``: user_id, task_id, task_title, role_name (+ ticket_id)."""
    task_id = _related_id(kwargs, "task_id")
    if task_id is None:
        raise PermanentError("task_id: required")
    task_title = _required_text(kwargs, "task_title")
    role_name = _required_text(kwargs, "role_name")
    ticket_id = _related_id(kwargs, "ticket_id")
    return NotificationDraft(
        user_id=_user_id(kwargs),
        notification_type="task_assignment",
        subject=_subject(f"New task assigned: {task_title}"),
        message=f"You have been assigned the task \"{task_title}\" as {role_name}.",
        related_task_id=task_id,
        related_ticket_id=ticket_id,
        metadata={"task_title": task_title, "role_name": role_name},
        producer_key=_producer_key(kwargs),
    )


def _user_id(kwargs: dict[str, Any]) -> int:
    value = kwargs.get("user_id")
    # JSON producers may send the id as a string of digits; a bool is an int to Python but never an id.
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0 or value >= 2**63:
        raise PermanentError(f"user_id: a positive integer is required, got {value!r}")
    return value


def _subject(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PermanentError("subject: a non-empty string is required")
    value = value.strip()
    # An over-long subject is still worth delivering: shorten it rather than drop the notification.
    return value if len(value) <= SUBJECT_MAX else value[: SUBJECT_MAX - 1] + "…"


def _required_text(kwargs: dict[str, Any], name: str) -> str:
    value = kwargs.get(name)
    if not isinstance(value, str) or not value.strip():
        raise PermanentError(f"{name}: a non-empty string is required")
    return value.strip()


def _related_id(kwargs: dict[str, Any], name: str) -> str | None:
    value = kwargs.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise PermanentError(f"{name}: must be a string or an integer")
    value = str(value)
    if len(value) > RELATED_ID_MAX:
        raise PermanentError(f"{name}: longer than {RELATED_ID_MAX} characters")
    return value


def _producer_key(kwargs: dict[str, Any]) -> str | None:
    value = kwargs.get("dedup_key")
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > DEDUP_KEY_MAX:
        raise PermanentError(f"dedup_key: a string of 1–{DEDUP_KEY_MAX} characters is required")
    return value
