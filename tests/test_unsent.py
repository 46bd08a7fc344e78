"""Messages published after commit while no broker answers are parked in the database, then published again by the
resend job once the broker is back: on the real queues, as workers read them, with their correlation id."""
from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.conf import settings
from django.db import transaction

from tests.conftest import free_port, queue_depth, wait_for
from tts.celery import app
from tts_common import bus, contracts, publisher
from tts_common.logging import CORRELATION_HEADER, bound_correlation_id
from tts_common.models import UnsentMessage
from tts_common.unsent import resend_unsent
from workflow_api.services.publisher import Outgoing, publish_batch_on_commit

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker_back(broker, monkeypatch) -> Iterator[Callable[[], None]]:
    """This process publishes to a port where no broker listens (with the retries cut to two quick attempts) until
    the returned function points it back at the real broker."""

    def publish_to(url: str) -> None:
        monkeypatch.setenv("CELERY_BROKER_URL", url)  # Celery prefers it to its configured URL
        # Fresh connections: none made by earlier tests may be reused.
        monkeypatch.setattr(publisher, "_channel", publisher._ConfirmChannel())
        monkeypatch.setattr(app, "_pool", None)
        monkeypatch.setattr(app.amqp, "_producer_pool", None)

    monkeypatch.setattr(bus, "PUBLISH_RETRY_POLICY", {"max_retries": 1, "interval_start": 0.1, "interval_step": 0, "interval_max": 0.1})
    monkeypatch.setitem(app.conf.broker_transport_options, "max_retries", 0)  # nor kombu's own reconnects
    publish_to(f"amqp://guest:guest@127.0.0.1:{free_port()}//")
    yield lambda: publish_to(settings.CELERY_BROKER_URL)


def test_messages_the_broker_refuses_after_commit_are_parked_then_resent(broker, broker_back) -> None:
    notification = {"user_id": 7, "subject": "Assigned", "message": "T-1 is yours", "notification_type": "task_assignment"}
    with bound_correlation_id("corr-unsent"), transaction.atomic():
        publish_batch_on_commit([Outgoing(contracts.INAPP_NOTIFICATION, notification)])
        bus.publish_on_commit(contracts.TICKET_STATUS, args=("T-1", "In Progress"))

    parked = list(UnsentMessage.objects.order_by("id").values_list("task", "queue", "correlation_id"))
    assert parked == [
        (contracts.INAPP_NOTIFICATION.task, contracts.INAPP_NOTIFICATION.queue, "corr-unsent"),
        (contracts.TICKET_STATUS.task, contracts.TICKET_STATUS.queue, "corr-unsent"),
    ]
    assert all(UnsentMessage.objects.values_list("error", flat=True))

    with pytest.raises(Exception):  # noqa: B017 (whatever the transport raises: the broker is still away)
        resend_unsent()
    assert UnsentMessage.objects.count() == 2  # kept for the next tick

    broker_back()
    assert resend_unsent() == 2
    assert not UnsentMessage.objects.exists()
    channel = broker.default_channel
    inapp = contracts.declared_queue(contracts.INAPP_NOTIFICATION.queue)(channel).get(no_ack=True)
    status = contracts.declared_queue(contracts.TICKET_STATUS.queue)(channel).get(no_ack=True)
    assert inapp.headers["task"] == contracts.INAPP_NOTIFICATION.task and inapp.decode()[1] == notification
    assert status.headers["task"] == contracts.TICKET_STATUS.task and status.decode()[0] == ["T-1", "In Progress"]
    assert inapp.headers[CORRELATION_HEADER] == status.headers[CORRELATION_HEADER] == "corr-unsent"


def test_the_resend_job_runs_on_the_scheduled_jobs_queue(broker, celery_worker) -> None:
    """As beat sends it: the workflow_api worker's scheduled-jobs queue takes the job, which publishes what waits."""
    UnsentMessage.objects.create(
        task=contracts.TICKET_STATUS.task, queue=contracts.TICKET_STATUS.queue, args=["T-9", "Resolved"]
    )
    celery_worker(queues=(contracts.UNSENT_RESEND.queue,), concurrency=1)
    bus.publish(contracts.UNSENT_RESEND)
    wait_for(lambda: not UnsentMessage.objects.exists(), timeout=30, message="parked message resent")
    wait_for(lambda: queue_depth(broker, contracts.TICKET_STATUS.queue) == 1, timeout=10)
