"""Writes of the ticket service: intake, publishing to the workflow engine (and republishing), status updates."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from tts_common import bus, contracts, signing
from tts_common.errors import Conflict

from .models import HdtsTicket, TicketStatusUpdate

logger = logging.getLogger(__name__)

# A ticket younger than this may still be inside its intake request's publish (bus.publish retries for ~30 s), so
# the republish scan leaves it alone rather than race that request.
REPUBLISH_MIN_AGE = timedelta(seconds=60)
# How much of an unpublished backlog one intake request drains after a successful publish (bounded latency).
INTAKE_REPUBLISH_LIMIT = 50
_REPUBLISH_BATCH = 100


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
    """Store a schema-valid HDTS ticket and publish it to the workflow engine once it is committed.

    Idempotent by ticket_id: a repeat of a stored ticket changes nothing and is published again only if it never
    reached the broker; a different ticket under a stored id raises :class:`TicketConflict`.
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
            transaction.on_commit(lambda: _publish_and_drain_backlog(ticket))
    except IntegrityError:
        ticket = HdtsTicket.objects.get(ticket_id=ticket_id)
        if ticket.payload != ticket_data:
            raise TicketConflict(f"Ticket {ticket_id!r} was already received with different content.") from None
        if ticket.published_at is None:
            publish_ticket(ticket)
        return IntakeResult(ticket, created=False)
    return IntakeResult(ticket, created=True)


def _status_reported_before_intake(ticket_id: str) -> dict[str, Any]:
    """HDTS can publish to the queue directly and POST the ticket later: start from the status already reported."""
    latest = TicketStatusUpdate.objects.filter(ticket_id=ticket_id).order_by("-id").first()
    return {"status": latest.status, "status_updated_at": latest.received_at} if latest else {}


def _publish_and_drain_backlog(ticket: HdtsTicket) -> None:
    # The broker is evidently up: a good moment to send what an earlier outage left behind.
    if publish_ticket(ticket):
        republish_pending(limit=INTAKE_REPUBLISH_LIMIT)


def publish_ticket(ticket: HdtsTicket) -> bool:
    """Publish the ticket (publisher-confirmed) and record the outcome on it; ``False`` if the broker stayed
    unreachable through bus.publish's retries, in which case ``published_at`` stays null for a later republish."""
    try:
        bus.publish(contracts.RECEIVE_TICKET, **receive_ticket_kwargs(ticket.payload))
    except Exception as exc:  # any failure must leave the ticket stored and pending, never lose it
        logger.error(
            "ticket publish failed; kept for republish",
            extra={"operation": "publish_ticket", "ticket_id": ticket.ticket_id, "error": repr(exc)},
        )
        outcome: dict[str, Any] = {"last_publish_error": f"{type(exc).__name__}: {exc}"[:1000]}
    else:
        outcome = {"published_at": timezone.now(), "last_publish_error": ""}
    HdtsTicket.objects.filter(pk=ticket.pk).update(
        publish_attempts=F("publish_attempts") + 1, updated_at=timezone.now(), **outcome
    )
    ticket.refresh_from_db(fields=["published_at", "publish_attempts", "last_publish_error", "updated_at"])
    return ticket.published_at is not None


def republish_pending(limit: int | None = None, min_age: timedelta = REPUBLISH_MIN_AGE) -> tuple[int, int]:
    """Publish stored tickets that never reached the broker, oldest first; returns (published, failed).

    Rows are locked with SKIP LOCKED, so concurrent runs (intake requests, the command) never send one twice.
    Stops at the first failure: the broker is down and the rest would only wait out the same retries.
    """
    published = 0
    cutoff = timezone.now() - min_age
    while limit is None or published < limit:
        size = _REPUBLISH_BATCH if limit is None else min(_REPUBLISH_BATCH, limit - published)
        with transaction.atomic():
            batch = list(
                HdtsTicket.objects.select_for_update(skip_locked=True)
                .filter(published_at__isnull=True, created_at__lte=cutoff)
                .order_by("created_at", "id")[:size]
            )
            if not batch:
                break
            for ticket in batch:
                if not publish_ticket(ticket):
                    return published, 1
                published += 1
    if published:
        logger.info("republished tickets", extra={"operation": "republish_tickets", "count": published})
    return published, 0


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
