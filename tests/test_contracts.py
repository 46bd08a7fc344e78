"""DESIGN §2: an outside producer with a stock Celery app can publish to every queue before or after our workers
have declared it — the declarations are equivalent, so neither side hits PRECONDITION_FAILED."""
import pytest
from celery import Celery
from django.conf import settings
from kombu import Connection, pools

from tests.conftest import queue_depth, wait_for
from tts_common import contracts


def outside_producer() -> Celery:
    """Exactly how HDTS publishes: its own Celery app with default settings."""
    # kombu pools connections process-wide, and a pooled connection remembers what it declared; these tests
    # delete queues behind its back, so each producer starts as a fresh HDTS process would.
    pools.reset()
    return Celery("hdts", broker=settings.CELERY_BROKER_URL)


def _delete(conn: Connection, name: str) -> None:
    channel = conn.default_channel
    channel.queue_delete(name)
    channel.exchange_delete(name)


@pytest.mark.parametrize("route", contracts.ROUTES, ids=lambda r: r.queue)
def test_outside_producer_first_then_our_declaration(broker, route):
    _delete(broker, route.queue)
    with outside_producer() as hdts:
        hdts.send_task(route.task, kwargs={"probe": 1}, queue=route.queue)
    # Our declaration (what a starting worker does) must be equivalent to theirs.
    contracts.declared_queue(route.queue)(broker.default_channel).declare()
    # Publishes from another connection reach the queue asynchronously.
    wait_for(lambda: queue_depth(broker, route.queue) == 1, timeout=10)


@pytest.mark.parametrize("route", contracts.ROUTES, ids=lambda r: r.queue)
def test_our_declaration_first_then_outside_producer(broker, route):
    _delete(broker, route.queue)
    contracts.declared_queue(route.queue)(broker.default_channel).declare()
    with outside_producer() as hdts:
        hdts.send_task(route.task, kwargs={"probe": 1}, queue=route.queue)
    # Publishes from another connection reach the queue asynchronously.
    wait_for(lambda: queue_depth(broker, route.queue) == 1, timeout=10)


def test_worker_starts_on_queues_an_outside_producer_declared(broker, celery_worker):
    for route in contracts.ROUTES:
        _delete(broker, route.queue)
    with outside_producer() as hdts:
        for route in contracts.ROUTES:
            hdts.send_task(route.task, kwargs={}, queue=route.queue)
    worker = celery_worker()
    assert worker.process.poll() is None
    assert "PRECONDITION_FAILED" not in worker.log()


def test_dead_letter_queue_is_declared_as_a_stock_producer_would(broker):
    _delete(broker, contracts.TICKET_DLQ)
    with outside_producer() as hdts:
        hdts.send_task("dead.letter.probe", kwargs={}, queue=contracts.TICKET_DLQ)
    contracts.declared_queue(contracts.TICKET_DLQ)(broker.default_channel).declare()
    wait_for(lambda: queue_depth(broker, contracts.TICKET_DLQ) == 1, timeout=10)
