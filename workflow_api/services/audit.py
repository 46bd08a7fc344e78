"""The audit log: events are built in memory by the services that act and written in bulk."""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.utils import timezone

from tts_common.base.database import binding_cursor
from workflow_api.models import AuditEvent

# The events' columns as arrays sent in binary (bulk_create's per-value preparation and quoting was most of an SLA
# batch's audit cost).
_INSERT_SQL = f"""
INSERT INTO {AuditEvent._meta.db_table} (occurred_at, actor_id, actor_username, action, entity_type, entity_id, ticket_id, data)
SELECT occurred_at, actor_id, actor_username, action, entity_type, entity_id, ticket_id, data::jsonb
FROM unnest(%b::timestamptz[], %b::bigint[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[])
     AS e(occurred_at, actor_id, actor_username, action, entity_type, entity_id, ticket_id, data)
"""


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
    if not events:
        return
    with binding_cursor() as cursor:
        cursor.execute(
            _INSERT_SQL,
            [
                [event.occurred_at for event in events],
                [event.actor_id for event in events],
                [event.actor_username for event in events],
                [event.action for event in events],
                [event.entity_type for event in events],
                [event.entity_id for event in events],
                [event.ticket_id for event in events],
                [json.dumps(event.data) for event in events],
            ],
        )
