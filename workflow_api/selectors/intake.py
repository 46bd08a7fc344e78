"""Reads of intake bookkeeping (admins): dead letters, integration errors, unrouted tickets."""
from __future__ import annotations

from django.db.models import QuerySet

from workflow_api.models import DeadLetter, IntegrationError, UnroutedTicket


def dead_letter_list() -> QuerySet[DeadLetter]:
    return DeadLetter.objects.order_by("-received_at", "-id")


def dead_letter_get(*, dead_letter_id: int) -> DeadLetter | None:
    return dead_letter_list().filter(pk=dead_letter_id).first()


def integration_error_list() -> QuerySet[IntegrationError]:
    return IntegrationError.objects.select_related("dead_letter").order_by("-created_at", "-id")


def integration_error_get(*, error_id: int) -> IntegrationError | None:
    return integration_error_list().filter(pk=error_id).first()


def unrouted_ticket_list() -> QuerySet[UnroutedTicket]:
    return UnroutedTicket.objects.order_by("-received_at", "ticket_id")
