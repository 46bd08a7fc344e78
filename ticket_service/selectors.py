"""Reads of the ticket service."""
from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from tts_common.base import hdts
from tts_common.base.errors import Invalid

from .models import HdtsTicket, TicketStatusUpdate


class TicketFilter(django_filters.FilterSet):
    status = django_filters.CharFilter()
    priority = django_filters.ChoiceFilter(choices=[(p, p) for p in hdts.PRIORITIES])
    category = django_filters.CharFilter()
    sub_category = django_filters.CharFilter()

    class Meta:
        model = HdtsTicket
        fields = ["status", "priority", "category", "sub_category"]


def ticket_list(*, filters: dict[str, Any] | None = None) -> QuerySet[HdtsTicket]:
    """Tickets, newest first. A bad filter value raises :class:`Invalid` rather than being ignored."""
    filterset = TicketFilter(filters or {}, HdtsTicket.objects.all())
    if not filterset.is_valid():
        raise Invalid({field: list(messages) for field, messages in filterset.errors.items()})
    return filterset.qs


def ticket_get(ticket_id: str) -> HdtsTicket:
    """The stored ticket; Http404 if this service never received it."""
    return get_object_or_404(HdtsTicket, ticket_id=ticket_id)


def ticket_status_history(ticket_id: str) -> QuerySet[TicketStatusUpdate]:
    return TicketStatusUpdate.objects.filter(ticket_id=ticket_id).order_by("id")
