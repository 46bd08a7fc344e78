"""Payloads of the messages in DESIGN §2, defined once: producers build them, consumers read them."""
from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class RoleData(TypedDict):
    """``workflow.role.send`` kwarg ``role_data``."""

    role_id: int
    system: str
    name: str
    permissions: list[str]
    is_active: bool
    version: int


class SystemRole(TypedDict):
    system: str
    role_id: int
    role_name: str
    assigned_at: str  # ISO 8601


class UserData(TypedDict):
    """``workflow.role.sync`` kwarg ``user_data``: a full snapshot of one user's roles."""

    user_id: int
    username: str
    email: str
    is_active: bool
    version: int
    system_roles: list[SystemRole]


class AssignmentNotification(TypedDict):
    """``task.send_assignment_notification`` kwargs."""

    user_id: int
    task_id: str
    task_title: str
    role_name: str
    ticket_id: NotRequired[str]


class InAppNotification(TypedDict):
    """``notifications.create_inapp`` kwargs."""

    user_id: int
    subject: str
    message: str
    notification_type: str
    related_task_id: str | None
    related_ticket_id: str | None
    metadata: dict[str, Any]
    dedup_key: NotRequired[str]  # the producer's idempotency key (per user); without one the content is the key


class Participant(TypedDict):
    user_id: int
    username: str


class TaskParticipants(TypedDict):
    """One task of ``messaging.ticket_participants.sync``'s kwarg ``tasks``: everyone who takes part in it
    (its owner, its assignee, every past assignee), a snapshot. Participants are never removed, so a consumer
    adds the users it does not know yet and may apply snapshots in any order, any number of times."""

    ticket_id: str  # the HDTS ticket id (the task's external_ticket_id)
    task_id: str
    participants: list[Participant]


# DESIGN §2 notification types.
NOTIFICATION_TYPES: tuple[str, ...] = (
    "task_assignment",
    "task_transfer_in",
    "task_transfer_out",
    "task_escalation",
    "task_completed",
    "sla_warning",
    "sla_breach",
    "comment_added",
    "unrouted_ticket",
    # Beyond DESIGN §2: external approval (AMS/BMS) outcomes.
    "external_rejected",  # to the approver and the owner
    "external_approval_pending",  # to admins: the outside system could not decide
    "dead_letter",  # to admins: tickets dead-lettered since the last such notice, grouped (metadata.count)
)
