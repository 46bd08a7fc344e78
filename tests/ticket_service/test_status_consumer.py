"""``send_ticket_status`` consumed by a real worker process, published as the workflow engine (or HDTS) does."""
from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from celery import Celery
from django.conf import settings

from tests.conftest import queue_depth, wait_for
from ticket_service import services
from ticket_service.models import HdtsTicket, TicketStatusUpdate
from ticket_service.tasks import decode_status
from tts_common import contracts
from tts_common.messaging.worker import PermanentError

from .factories import HdtsTicketFactory

QUEUE = contracts.TICKET_STATUS.queue


@pytest.fixture
def producer() -> Iterator[Celery]:
    app = Celery("status-producer", broker=settings.CELERY_BROKER_URL, set_as_current=False)
    yield app
    app.close()


def send_status(app: Celery, *args: object, task_id: str | None = None) -> None:
    app.send_task(contracts.TICKET_STATUS.task, args=list(args), queue=QUEUE, task_id=task_id)


def test_worker_records_statuses_idempotently_and_survives_bad_messages(celery_worker, producer, broker) -> None:
    ticket = HdtsTicketFactory()
    worker = celery_worker(queues=(QUEUE,))

    send_status(producer, ticket.ticket_id, "in_progress")
    wait_for(lambda: HdtsTicket.objects.get(pk=ticket.pk).status == "in_progress", message="status recorded")

    # Malformed messages are given up on (logged), never crash the worker or block the queue.
    send_status(producer, ticket.ticket_id)
    send_status(producer, ticket.ticket_id, "")
    send_status(producer, ["not", "an", "id"], "resolved")
    # A redelivered message (same id) is recorded once; the ticket ends at the latest status.
    redelivered = str(uuid.uuid4())
    send_status(producer, ticket.ticket_id, "on_hold", task_id=redelivered)
    send_status(producer, ticket.ticket_id, "on_hold", task_id=redelivered)
    send_status(producer, "NEVER-POSTED-1", "resolved")  # a ticket HDTS published to the queue directly
    send_status(producer, ticket.ticket_id, "resolved")

    wait_for(lambda: HdtsTicket.objects.get(pk=ticket.pk).status == "resolved", message="latest status")
    wait_for(lambda: queue_depth(broker, QUEUE) == 0, message="queue drained")
    history = list(TicketStatusUpdate.objects.filter(ticket_id=ticket.ticket_id).values_list("status", flat=True))
    assert history == ["in_progress", "on_hold", "resolved"]
    wait_for(lambda: TicketStatusUpdate.objects.filter(ticket_id="NEVER-POSTED-1", status="resolved").exists())
    assert not HdtsTicket.objects.filter(ticket_id="NEVER-POSTED-1").exists()
    assert queue_depth(broker, contracts.TICKET_DLQ) == 0  # status messages are not tickets: logged, not DLQ'd
    log = worker.log()
    assert log.count("undecodable status message") == 3 and log.count("message gave up") == 3
    assert "retrying" not in log  # a malformed message is given up at once, not retried


@pytest.mark.parametrize(
    "args, kwargs, expected",
    [(("T-1", "open"), {}, ("T-1", "open")), ((7, " done "), {}, ("7", "done")),
     ((), {"ticket_id": "T-1", "new_status": "open"}, ("T-1", "open"))],
)  # fmt: skip
def test_decode_status_accepts(args, kwargs, expected) -> None:
    assert decode_status(args, kwargs) == expected


@pytest.mark.parametrize(
    "args, kwargs",
    [(("T-1",), {}), (("T-1", "open", "x"), {}), ((None, "open"), {}), ((True, "open"), {}), (("", "open"), {}),
     (("T-1", ""), {}), (("T-1", 3), {}), (("T-1", "x" * 65), {}), (("x" * 256, "open"), {})],
)  # fmt: skip
def test_decode_status_rejects(args, kwargs) -> None:
    with pytest.raises(PermanentError):
        decode_status(args, kwargs)


@pytest.mark.django_db
def test_record_status_is_idempotent_per_message() -> None:
    ticket = HdtsTicketFactory()
    assert services.record_status(ticket.ticket_id, "in_progress", message_id="m1") is True
    assert services.record_status(ticket.ticket_id, "resolved", message_id="m2") is True
    assert services.record_status(ticket.ticket_id, "in_progress", message_id="m1") is False  # redelivery
    ticket.refresh_from_db()
    assert ticket.status == "resolved" and ticket.status_updated_at is not None
