"""A ticket whose publish fails (broker down past bus.publish's retries) stays stored and is republished later."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from ticket_service import services
from ticket_service.hdts_simulator import make_ticket
from ticket_service.models import HdtsTicket
from tts_common import bus

from .conftest import drain_ticket_queue
from .factories import TicketStatusUpdateFactory

pytestmark = pytest.mark.django_db(transaction=True)


def unreachable(*args: Any, **kwargs: Any) -> None:
    raise ConnectionRefusedError("broker unreachable")


@contextmanager
def broker_outage(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """bus.publish failing as it does once its retries are exhausted."""
    with monkeypatch.context() as patch:
        patch.setattr(bus, "publish", unreachable)
        yield


@pytest.fixture
def client(hdts_token: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {hdts_token}")
    return api


def age(ticket_ids: list[str], seconds: float = 120) -> None:
    HdtsTicket.objects.filter(ticket_id__in=ticket_ids).update(created_at=timezone.now() - timedelta(seconds=seconds))


def test_a_failed_publish_keeps_the_ticket_pending(client, broker, monkeypatch) -> None:
    ticket = make_ticket(1, prefix="PUB")
    with broker_outage(monkeypatch):
        response = client.post("/api/tickets/", ticket, format="json")
    assert response.status_code == 201
    assert response.json()["published"] is False and response.json()["publish_attempts"] == 1
    stored = HdtsTicket.objects.get()
    assert stored.published_at is None and "broker unreachable" in stored.last_publish_error

    age([ticket["ticket_id"]])
    with broker_outage(monkeypatch), pytest.raises(CommandError, match="unreachable"):
        call_command("republish_tickets")  # still down: the command says so, the ticket stays pending
    assert HdtsTicket.objects.get().publish_attempts == 2 and drain_ticket_queue(broker) == []


def test_republish_command_publishes_pending_tickets_oldest_first(client, broker, monkeypatch) -> None:
    with broker_outage(monkeypatch):
        ids = [client.post("/api/tickets/", make_ticket(i, prefix="PUB"), format="json").json()["ticket_id"]
               for i in range(3)]  # fmt: skip
    age(ids[:2])

    call_command("republish_tickets")
    assert [m["kwargs"]["ticket_data"]["ticket_id"] for m in drain_ticket_queue(broker)] == ids[:2]
    assert list(HdtsTicket.objects.filter(published_at__isnull=True).values_list("ticket_id", flat=True)) == [ids[2]]

    call_command("republish_tickets", min_age=0)
    assert [m["kwargs"]["ticket_data"]["ticket_id"] for m in drain_ticket_queue(broker)] == [ids[2]]
    call_command("republish_tickets", min_age=0)  # nothing left: nothing sent twice
    assert drain_ticket_queue(broker) == [] and not HdtsTicket.objects.filter(published_at__isnull=True).exists()


def test_next_intake_or_a_repeat_publishes_what_an_outage_left_behind(client, broker, monkeypatch) -> None:
    stranded = [make_ticket(i, prefix="PUB") for i in range(2)]
    with broker_outage(monkeypatch):
        for ticket in stranded:
            client.post("/api/tickets/", ticket, format="json")

    repeat = client.post("/api/tickets/", stranded[0], format="json")  # HDTS retrying its own POST
    assert repeat.status_code == 200 and repeat.json()["published"] is True
    assert [m["kwargs"]["ticket_data"] for m in drain_ticket_queue(broker)] == [stranded[0]]

    age([stranded[1]["ticket_id"]])
    fresh = make_ticket(9, prefix="PUB")
    assert client.post("/api/tickets/", fresh, format="json").status_code == 201
    assert [m["kwargs"]["ticket_data"] for m in drain_ticket_queue(broker)] == [fresh, stranded[1]]
    assert client.post("/api/tickets/", fresh, format="json").status_code == 200
    assert drain_ticket_queue(broker) == []  # a repeat of a published ticket is not sent again


def test_unsigned_messages_when_no_secret_is_configured(client, broker, settings) -> None:
    settings.HDTS_SIGNING_SECRET = ""
    ticket = make_ticket(1, prefix="PUB")
    assert client.post("/api/tickets/", ticket, format="json").status_code == 201
    assert [m["kwargs"] for m in drain_ticket_queue(broker)] == [{"ticket_data": ticket}]
    signed = APIClient().post(
        "/api/tickets/", ticket, format="json", HTTP_X_HDTS_SIGNATURE="ab", HTTP_X_HDTS_SIGNED_AT="1"
    )
    assert signed.status_code == 401 and signed.json()["code"] == "signing_disabled"


def test_a_ticket_starts_from_a_status_reported_before_it_was_posted(client, broker) -> None:
    ticket = make_ticket(1, prefix="PUB")
    TicketStatusUpdateFactory(ticket_id=ticket["ticket_id"], status="in_progress")
    assert client.post("/api/tickets/", ticket, format="json").json()["status"] == "in_progress"


def test_receive_ticket_service_is_idempotent(broker) -> None:
    ticket = make_ticket(1, prefix="PUB")
    assert services.receive_ticket(ticket).created is True
    assert services.receive_ticket(dict(ticket)).created is False
    assert len(drain_ticket_queue(broker)) == 1
