"""The integration-errors table: messages from other systems that gave up, for admins to inspect and replay."""
from __future__ import annotations

from typing import Any

from tts_common.base import hdts_deployed, text
from workflow_api.models import IntegrationError


def record_integration_error(*, source: str, kwargs: dict[str, Any], reason: str, retries: int) -> IntegrationError:
    """Record a message that gave up. ``reason`` is ``"<category>: <message>"`` for messages rejected on sight
    (validation, signature: awaiting an admin); anything else failed in processing until retries ran out."""
    # Recorded whatever the message holds: text the database cannot store is replaced (the message is invalid anyway).
    kwargs, reason = text.storable(kwargs), text.storable(reason)
    category, _, message = reason.partition(": ")
    permanent = category in (IntegrationError.Category.VALIDATION, IntegrationError.Category.SIGNATURE)
    ticket_id = hdts_deployed.message_ticket_id(kwargs)
    return IntegrationError.objects.create(
        category=category if permanent else IntegrationError.Category.PROCESSING,
        source=source,
        ticket_id=str(ticket_id)[:255] if isinstance(ticket_id, (str, int)) else "",
        message=message if permanent else reason,
        payload=kwargs,
        retry_count=retries,
        status=IntegrationError.Status.PENDING if permanent else IntegrationError.Status.ESCALATED,
    )
