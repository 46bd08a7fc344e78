"""Reads of the ticket service."""
from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from tts_common.base.errors import Invalid

from .filters import TicketFilter
from .models import HdtsTicket, TicketStatusUpdate


def ticket_list(*, filters: dict[str, Any] | None = None) -> QuerySet[HdtsTicket]:
    """Tickets, newest first. A bad filter value raises :class:`Invalid` rather than being ignored."""
    filterset = TicketFilter(filters or {}, HdtsTicket.objects.all())
    if not filterset.is_valid():
        raise Invalid({field: list(messages) for field, messages in filterset.errors.items()})
    tickets: QuerySet[HdtsTicket] = filterset.qs  # django-filter ships no types
    return tickets


def ticket_get(ticket_id: str) -> HdtsTicket:
    """The stored ticket; Http404 if this service never received it."""
    return get_object_or_404(HdtsTicket, ticket_id=ticket_id)


def ticket_status_history(ticket_id: str) -> QuerySet[TicketStatusUpdate]:
    return TicketStatusUpdate.objects.filter(ticket_id=ticket_id).order_by("id")
