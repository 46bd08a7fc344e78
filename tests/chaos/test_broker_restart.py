"""RabbitMQ restarted in the middle of a 2,000-ticket ingest (issue 6): a private node (see conftest), a real worker."""
from __future__ import annotations

import random
from typing import Any

import pytest
from kombu import Connection

from tests.conftest import outside_celery_app, queue_depth, wait_for
from tests.workflow_api.test_ingestion_queue import SECRET, assert_fair_and_unique, signed, tasks_count, ticket
from tts_common import contracts
from tts_common.messaging import outbox, publisher
from tts_common.models import OutboxMessage
from workflow_api.models import Assignment, Task

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def publish_as_hdts(broker_url: str, messages: list[dict[str, Any]]) -> None:
    app = outside_celery_app(broker_url=broker_url)
    with app.producer_or_acquire() as producer:
        for kwargs in messages:
            app.send_task(contracts.RECEIVE_TICKET.task, kwargs=kwargs, queue=contracts.RECEIVE_TICKET.queue, producer=producer)


def drain(conn: Connection, queue: str) -> list[dict[str, Any]]:
    """Every message's task kwargs, taking them off the queue."""
    declared = contracts.declared_queue(queue)(conn.default_channel)
    kwargs = []
    while (message := declared.get(no_ack=True)) is not None:
        kwargs.append(message.decode()[1])
    return kwargs


def test_broker_restarted_mid_ingest_loses_and_duplicates_nothing(seeded, private_broker, celery_worker, monkeypatch):
    tickets = [signed(ticket(f"T-{i}", sub_category=random.choice(list(seeded)))) for i in range(2000)]
    worker_env = {
        "CELERY_BROKER_URL": private_broker.url,
        "HDTS_SIGNING_SECRET": SECRET,
        # Batches of up to 32 (production prefetches 256 per process): ingestion then takes long enough for a
        # restart to land in the middle of it, with most messages still on the broker.
        "CELERY_PREFETCH_MULTIPLIER": "16",
    }
    publish_as_hdts(private_broker.url, tickets)
    worker = celery_worker(queues=(contracts.RECEIVE_TICKET.queue,), concurrency=2, env=worker_env)
    wait_for(lambda: Task.objects.count() >= 100, timeout=60, interval=0.005, message="ingestion under way")

    private_broker.stop()
    at_restart = Task.objects.count()
    private_broker.start()
    assert 0 < at_restart < 2000

    wait_for(tasks_count(2000), timeout=120, message="2000 tasks after the restart")
    # Batches whose publish after commit fell in the restart wait in the outbox: the relay (beat's job) sends them.
    monkeypatch.setenv("CELERY_BROKER_URL", private_broker.url)  # Celery prefers it to its configured URL
    monkeypatch.setattr(publisher, "_channel", publisher._ConfirmChannel())
    wait_for(lambda: outbox.relay(min_age_seconds=0) == 0 and not OutboxMessage.objects.exists(), timeout=60)
    with Connection(private_broker.url) as conn:
        wait_for(
            lambda: queue_depth(conn, contracts.RECEIVE_TICKET.queue) == 0
            and queue_depth(conn, contracts.ASSIGNMENT_NOTIFICATION.queue) >= 2000,
            timeout=60,
            message="intake queue drained and 2000 assignment notifications",
        )
        notifications = drain(conn, contracts.ASSIGNMENT_NOTIFICATION.queue)
        assert queue_depth(conn, contracts.TICKET_DLQ) == 0
    assert "Connection to broker lost" in worker.log()  # the restart did hit the worker, which reconnected by itself

    assert_fair_and_unique(2000)
    assert set(Task.objects.values_list("external_ticket_id", flat=True)) == {f"T-{i}" for i in range(2000)}
    # One assignment notification per task, to its assignee. A batch whose broker confirm was lost in the restart
    # is published again (at least once), so a message may repeat; the notification service stores each once
    # (same content, same dedup key).
    open_assignments = Assignment.objects.filter(ended_at__isnull=True)
    assert open_assignments.count() == 2000
    assigned = {
        (str(task_id), ticket_id, user_id)
        for task_id, ticket_id, user_id in open_assignments.values_list("task__task_id", "task__external_ticket_id", "user_id")
    }
    notified = {(n["task_id"], n["ticket_id"], n["user_id"]) for n in notifications}
    assert notified == assigned


def test_a_batch_committed_while_the_broker_is_down_waits_in_the_outbox_for_it(private_broker, monkeypatch):
    """After commit the outbox holds the batch: a broker outage delays it, and the relay publishes it once the
    broker is back, each message once."""
    monkeypatch.setenv("CELERY_BROKER_URL", private_broker.url)  # Celery prefers it to its configured URL
    monkeypatch.setattr(publisher, "_channel", publisher._ConfirmChannel())  # no connection from earlier tests
    private_broker.stop()
    try:
        outbox.publish([outbox.Message(contracts.ASSIGNMENT_NOTIFICATION, {"ticket_id": f"T-{i}"}) for i in range(10)])
        assert OutboxMessage.objects.count() == 10  # the publish after commit failed: the rows wait
        with pytest.raises(Exception):  # noqa: B017 (whatever the transport raises while no broker answers)
            outbox.relay(min_age_seconds=0)
    finally:
        private_broker.start()
    assert outbox.relay(min_age_seconds=0) == 10 and not OutboxMessage.objects.exists()
    with Connection(private_broker.url) as conn:
        assert sorted(n["ticket_id"] for n in drain(conn, contracts.ASSIGNMENT_NOTIFICATION.queue)) == sorted(
            f"T-{i}" for i in range(10)
        )
