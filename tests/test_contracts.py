"""DESIGN §2: an outside producer with a stock Celery app can publish to every queue before or after our workers
have declared it — the declarations are equivalent, so neither side hits PRECONDITION_FAILED."""
import subprocess
import sys

import pytest
from django.conf import settings
from kombu import Connection

from tests.conftest import queue_depth, wait_for
from tts_common import contracts


def publish_as_outside_producer(*messages: tuple[str, str]) -> None:
    """Publish ``(task, queue)`` messages exactly as HDTS does — its own Celery app with default settings — from a
    process of its own, so that nothing it declares or caches is shared with ours."""
    script = (
        "import sys; from celery import Celery\n"
        "app = Celery('hdts', broker=sys.argv[1])\n"
        "for task, queue in zip(sys.argv[2::2], sys.argv[3::2]):\n"
        "    app.send_task(task, kwargs={'probe': 1}, queue=queue)\n"
    )
    argv = [arg for message in messages for arg in message]
    subprocess.run([sys.executable, "-c", script, settings.CELERY_BROKER_URL, *argv], check=True, timeout=60)


def _delete(conn: Connection, name: str) -> None:
    channel = conn.default_channel
    channel.queue_delete(name)
    channel.exchange_delete(name)


@pytest.mark.parametrize("route", contracts.ROUTES, ids=lambda r: r.queue)
def test_outside_producer_first_then_our_declaration(broker, route):
    _delete(broker, route.queue)
    publish_as_outside_producer((route.task, route.queue))
    # Our declaration (what a starting worker does) must be equivalent to theirs.
    contracts.declared_queue(route.queue)(broker.default_channel).declare()
    # Publishes from another connection reach the queue asynchronously.
    wait_for(lambda: queue_depth(broker, route.queue) == 1, timeout=10)


@pytest.mark.parametrize("route", contracts.ROUTES, ids=lambda r: r.queue)
def test_our_declaration_first_then_outside_producer(broker, route):
    _delete(broker, route.queue)
    contracts.declared_queue(route.queue)(broker.default_channel).declare()
    publish_as_outside_producer((route.task, route.queue))
    # Publishes from another connection reach the queue asynchronously.
    wait_for(lambda: queue_depth(broker, route.queue) == 1, timeout=10)


def test_worker_starts_on_queues_an_outside_producer_declared(broker, celery_worker):
    for route in contracts.ROUTES:
        _delete(broker, route.queue)
    publish_as_outside_producer(*((route.task, route.queue) for route in contracts.ROUTES))
    worker = celery_worker()
    assert worker.process.poll() is None
    assert "PRECONDITION_FAILED" not in worker.log()


def test_dead_letter_queue_is_declared_as_a_stock_producer_would(broker):
    _delete(broker, contracts.TICKET_DLQ)
    publish_as_outside_producer(("dead.letter.probe", contracts.TICKET_DLQ))
    contracts.declared_queue(contracts.TICKET_DLQ)(broker.default_channel).declare()
    wait_for(lambda: queue_depth(broker, contracts.TICKET_DLQ) == 1, timeout=10)
