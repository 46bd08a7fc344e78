"""The retry policies of DESIGN §2 (issue 15), proven on real worker processes whose database fails on purpose: a
trigger the test installs makes every insert of one marked row fail (an error of the statement, not of the
connection, so no outage rule applies), and counts the attempts in a sequence (which a rollback does not undo).

Tickets: 3 retries, base × 2^n s apart, then the dead-letter queue. In-app notifications: 5 retries, then a rejected
message for admins. (Email delivery's 5 retries: tests/notification_service/test_worker.py, SMTP down.)
"""
from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest
from django.db import connection
from kombu import Connection

from notification_service.models import InAppNotification, RejectedMessage
from tests.conftest import WorkerProcess, outside_celery_app, queue_depth, wait_for
from tests.workflow_api.factories import two_step_setup
from tts_common import contracts
from workflow_api.models import Task

BASE_SECONDS = 0.25


@contextmanager
def failing_inserts(table: str, condition: str) -> Iterator[Callable[[], int]]:
    """Every insert into ``table`` of a row meeting ``condition`` (SQL on NEW) fails while the block runs; yields a
    function answering how many inserts were attempted."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE SEQUENCE IF NOT EXISTS injected_fault_attempts")
        cursor.execute(f"""
            CREATE OR REPLACE FUNCTION injected_fault() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF {condition} THEN
                    PERFORM nextval('injected_fault_attempts');
                    RAISE EXCEPTION 'injected fault';
                END IF;
                RETURN NEW;
            END $$""")  # fmt: skip
        cursor.execute(f"CREATE TRIGGER injected_fault BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION injected_fault()")

    def attempts() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT last_value, is_called FROM injected_fault_attempts")
            last_value, is_called = cursor.fetchone()
            return last_value if is_called else 0

    try:
        yield attempts
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER IF EXISTS injected_fault ON {table}")
            cursor.execute("DROP FUNCTION IF EXISTS injected_fault()")
            cursor.execute("DROP SEQUENCE IF EXISTS injected_fault_attempts")


def log_lines(worker: WorkerProcess, operation: str) -> list[dict[str, object]]:
    lines = []
    for line in worker.log().splitlines():
        try:
            record = json.loads(line)
        except ValueError:  # Celery's own lines
            continue
        if isinstance(record, dict) and record.get("operation") == operation:
            lines.append(record)
    return lines


def retry_times(worker: WorkerProcess, operation: str) -> list[datetime]:
    """When the worker failed the message: each retry it scheduled, then its giving up."""
    return [
        datetime.fromisoformat(str(record["timestamp"]))
        for record in log_lines(worker, operation)
        if record["message"] in ("retrying", "message gave up")
    ]


@pytest.mark.django_db(transaction=True)
def test_a_ticket_is_retried_3_times_with_exponential_backoff_then_dead_lettered(monkeypatch, broker, celery_worker):
    two_step_setup()
    monkeypatch.setenv("CONSUMER_RETRY_BASE_SECONDS", str(BASE_SECONDS))
    worker = celery_worker(queues=(contracts.RECEIVE_TICKET.queue,))
    hdts = outside_celery_app()
    ticket = {"ticket_id": "FAIL-1", "title": "Fails", "category": "IT Support", "sub_category": "Network", "priority": "low"}

    with failing_inserts(Task._meta.db_table, "NEW.external_ticket_id = 'FAIL-1'") as attempts:
        hdts.send_task(contracts.RECEIVE_TICKET.task, kwargs={"ticket_data": ticket}, queue=contracts.RECEIVE_TICKET.queue)
        wait_for(lambda: queue_depth(broker, contracts.TICKET_DLQ) == 1, timeout=60, message="the dead letter")
        # First attempt and 3 retries, each as a batch then alone (a failed batch retries its messages one by one).
        assert attempts() == 2 * (1 + 3)

    [letter] = _dead_letters(broker)
    assert letter["message"]["retries"] == 3 and "injected fault" in letter["reason"]
    times = retry_times(worker, contracts.RECEIVE_TICKET.task)
    assert len(times) == 3 + 1  # three retries scheduled, then given up
    for n, (earlier, later) in enumerate(itertools.pairwise(times), start=1):
        assert BASE_SECONDS * 2**n <= (later - earlier).total_seconds() < BASE_SECONDS * 2**n + 1.5, (n, times)
    assert not Task.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_notification_is_retried_5_times_then_recorded_for_admins(monkeypatch, broker, celery_worker):
    monkeypatch.setenv("CONSUMER_RETRY_BASE_SECONDS", "0.05")
    worker = celery_worker(queues=(contracts.INAPP_NOTIFICATION.queue,))
    outside = outside_celery_app("outside")
    notification = {
        "user_id": 7, "subject": "FAIL: never stored", "message": "", "notification_type": "task_escalation",
        "related_task_id": None, "related_ticket_id": None, "metadata": {},
    }  # fmt: skip

    with failing_inserts(InAppNotification._meta.db_table, "NEW.subject LIKE 'FAIL%'") as attempts:
        outside.send_task(contracts.INAPP_NOTIFICATION.task, kwargs=notification, queue=contracts.INAPP_NOTIFICATION.queue)
        rejected = wait_for(RejectedMessage.objects.first, timeout=60, message="the rejected message")
        assert attempts() == 2 * (1 + 5)

    assert rejected.retries == 5 and "injected fault" in rejected.reason
    assert rejected.kwargs["subject"] == notification["subject"]
    assert len(retry_times(worker, contracts.INAPP_NOTIFICATION.task)) == 5 + 1
    assert not InAppNotification.objects.exists()


def _dead_letters(broker: Connection) -> list[dict[str, object]]:
    queue = contracts.declared_queue(contracts.TICKET_DLQ)(broker.default_channel)
    letters = []
    while (message := queue.get(no_ack=True)) is not None:
        letters.append(message.decode())
    return letters
