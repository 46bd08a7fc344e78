"""The audit log: events are built in memory by the services that act and written in bulk."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.utils import timezone

from workflow_api.models import AuditEvent


def audit_event(
    action: str,
    *,
    entity_type: str,
    entity_id: str,
    actor_id: int | None = None,
    actor_username: str = "",
    ticket_id: str = "",
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """An unsaved event (``actor_id`` None = the engine); pass it to :func:`record_events`."""
    return AuditEvent(
        occurred_at=at or timezone.now(),
        actor_id=actor_id,
        actor_username=actor_username,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        ticket_id=ticket_id,
        data=data or {},
    )


def record_events(events: Sequence[AuditEvent]) -> None:
    """One INSERT for the lot (in the caller's transaction, so the log never disagrees with what it records)."""
    if events:
        AuditEvent.objects.bulk_create(events, batch_size=1000)
