"""A ticket and its message to the workflow engine are stored together (outbox): a broker that refuses the message
loses nothing, and the relay publishes it once the broker takes it."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from ticket_service import services
from ticket_service.hdts_simulator import make_ticket
from tts_common.messaging import outbox
from tts_common.models import OutboxMessage

from .conftest import drain_ticket_queue
from .factories import TicketStatusUpdateFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(hdts_token: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {hdts_token}")
    return api


def test_a_ticket_the_broker_refuses_is_kept_in_the_outbox_and_relayed_once(client, broker, monkeypatch) -> None:
    ticket = make_ticket(1, prefix="PUB")
    with monkeypatch.context() as outage:
        outage.setattr(outbox, "publish_batch", lambda *_: (_ for _ in ()).throw(ConnectionRefusedError("down")))
        assert client.post("/api/tickets/", ticket, format="json").status_code == 201
    assert drain_ticket_queue(broker) == [] and OutboxMessage.objects.count() == 1

    assert client.post("/api/tickets/", ticket, format="json").status_code == 200  # HDTS retrying: nothing new
    assert outbox.relay(min_age_seconds=0) == 1
    assert [m["kwargs"]["ticket_data"] for m in drain_ticket_queue(broker)] == [ticket]
    assert outbox.relay(min_age_seconds=0) == 0 and not OutboxMessage.objects.exists()


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
