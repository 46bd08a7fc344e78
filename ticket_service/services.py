"""Writes of the ticket service: intake (with its message to the workflow engine), status updates."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from tts_common import contracts
from tts_common.base import signing
from tts_common.base.errors import Conflict
from tts_common.messaging import outbox

from .models import HdtsTicket, TicketStatusUpdate

logger = logging.getLogger(__name__)


class TicketConflict(Conflict):
    """The ticket_id is already stored with different content: HDTS ids are immutable, so this is a client bug."""


@dataclass(frozen=True)
class IntakeResult:
    ticket: HdtsTicket
    created: bool


def receive_ticket_kwargs(ticket_data: dict[str, Any]) -> dict[str, Any]:
    """The kwargs of a ``tickets.tasks.receive_ticket`` message; signed (DESIGN §3) when a secret is configured, so
    the consumer can tell our tickets from forgeries."""
    kwargs: dict[str, Any] = {"ticket_data": ticket_data}
    secret = settings.HDTS_SIGNING_SECRET
    if secret:
        signed_at = str(int(time.time()))
        kwargs.update(signature=signing.sign(secret, signed_at, ticket_data), signed_at=signed_at)
    return kwargs


def receive_ticket(ticket_data: dict[str, Any]) -> IntakeResult:
    """Store a schema-valid HDTS ticket and, in the same transaction, its message to the workflow engine (outbox:
    published once committed, never lost).

    Idempotent by ticket_id: a repeat of a stored ticket changes nothing (its message left with it); a different
    ticket under a stored id raises :class:`TicketConflict`.
    """
    ticket_id = ticket_data["ticket_id"]
    try:
        with transaction.atomic():
            ticket = HdtsTicket.objects.create(
                ticket_id=ticket_id,
                payload=ticket_data,
                title=ticket_data["title"],
                priority=ticket_data["priority"],
                category=ticket_data["category"],
                sub_category=ticket_data["sub_category"],
                department=ticket_data.get("department") or "",
                **_status_reported_before_intake(ticket_id),
            )
            outbox.publish_one(contracts.RECEIVE_TICKET, **receive_ticket_kwargs(ticket_data))
    except IntegrityError:
        ticket = HdtsTicket.objects.get(ticket_id=ticket_id)
        if ticket.payload != ticket_data:
            raise TicketConflict(f"Ticket {ticket_id!r} was already received with different content.") from None
        return IntakeResult(ticket, created=False)
    return IntakeResult(ticket, created=True)


def _status_reported_before_intake(ticket_id: str) -> dict[str, Any]:
    """HDTS can publish to the queue directly and POST the ticket later: start from the status already reported."""
    latest = TicketStatusUpdate.objects.filter(ticket_id=ticket_id).order_by("-id").first()
    return {"status": latest.status, "status_updated_at": latest.received_at} if latest else {}


def record_status(ticket_id: str, status: str, message_id: str) -> bool:
    """Record a status reported by the workflow engine; ``False`` if this message was already recorded.

    The update is kept even when the ticket is unknown here. The ticket row is locked before the update is
    inserted, so update ids follow the order in which the ticket's status was set and the latest one wins.
    """
    with transaction.atomic():
        ticket = HdtsTicket.objects.select_for_update().filter(ticket_id=ticket_id).first()
        update, created = TicketStatusUpdate.objects.get_or_create(
            message_id=message_id, defaults={"ticket_id": ticket_id, "status": status}
        )
        if not created:
            return False
        if ticket is None:
            logger.info(
                "status for a ticket not received here; kept",
                extra={"operation": "record_status", "ticket_id": ticket_id, "status": status},
            )
            return True
        ticket.status, ticket.status_updated_at = status, update.received_at
        ticket.save(update_fields=["status", "status_updated_at", "updated_at"])
    return True
