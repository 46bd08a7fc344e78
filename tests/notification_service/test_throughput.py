"""Ingestion throughput: in-app notifications stored per second by one worker (-c 2) draining its queue."""
from __future__ import annotations

import time

import pytest
from django.conf import settings
from kombu import Connection

from notification_service.models import EmailDelivery, InAppNotification
from tests.conftest import wait_for
from tts_common import contracts

pytestmark = pytest.mark.slow

MESSAGES = 10_000
REQUIRED_PER_SECOND = 2_000


def preload(count: int) -> None:
    """Publish ``count`` distinct notifications as Celery task messages (protocol 2), fast."""
    queue = contracts.declared_queue(contracts.INAPP_NOTIFICATION.queue)
    with Connection(settings.CELERY_BROKER_URL) as conn:
        producer = conn.Producer(serializer="json")
        for i in range(count):
            kwargs = {
                "user_id": 1 + i % 100,
                "subject": f"Notification {i}",
                "message": "Body",
                # Every fourth one also goes by email: its delivery row and queued email are part of the cost.
                "notification_type": "task_assignment" if i % 4 == 0 else "comment_added",
                "related_task_id": f"T-{i}",
                "related_ticket_id": None,
                "metadata": {},
            }
            producer.publish(
                [[], kwargs, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}],
                exchange=queue.exchange, routing_key=queue.routing_key, declare=[queue],
                headers={"lang": "py", "task": contracts.INAPP_NOTIFICATION.task, "id": f"bench-{i}", "retries": 0},
            )  # fmt: skip


def test_stores_at_least_2000_notifications_per_second(notification_worker):
    preload(MESSAGES)
    started = time.perf_counter()
    # Ingestion only: email runs on its own workers in production, so slow SMTP never takes a storage slot.
    worker = notification_worker(queues=contracts.SERVICE_QUEUES["notification_service"])
    ready = time.perf_counter()
    wait_for(lambda: InAppNotification.objects.count() >= MESSAGES, timeout=120, interval=0.1)
    elapsed = time.perf_counter() - ready
    rate = MESSAGES / elapsed
    print(f"\n{MESSAGES} notifications in {elapsed:.2f}s: {rate:.0f}/s (worker start {ready - started:.1f}s)")
    assert InAppNotification.objects.count() == MESSAGES
    assert EmailDelivery.objects.count() == MESSAGES // 4
    assert "batch failed" not in worker.log()
    assert rate >= REQUIRED_PER_SECOND
