"""AckLedger on a real RabbitMQ channel: a batch is acked with one basic_ack(multiple=True) only where that acks
nothing still unsettled; whatever was not acked comes back when the channel closes."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from kombu import Connection, Queue

from tts_common.messaging.acks import AckLedger


@pytest.fixture
def deliveries() -> Iterator[tuple[Any, list[int], Any]]:
    """(channel, delivery tags 1..6, a function counting the queue's ready messages) on a fresh queue."""
    with Connection(settings.CELERY_BROKER_URL) as conn:
        queue = Queue(f"test-ack-{uuid.uuid4().hex[:8]}", auto_delete=False)(conn.default_channel)
        queue.declare()
        with conn.Producer() as producer:
            for number in range(6):
                producer.publish(str(number), routing_key=queue.name)
        channel = conn.channel()
        channel.basic_qos(0, 10, False)
        tags = [channel.basic_get(queue.name).delivery_tag for _ in range(6)]

        def ready() -> int:
            return queue.queue_declare(passive=True).message_count

        yield channel, tags, ready
        queue.delete()


def ledger_on(channel: Any, tags: list[int]) -> tuple[AckLedger, list[tuple[int, bool]]]:
    """A ledger that knows the deliveries; the basic_acks it sends are recorded (and sent)."""
    ledger = AckLedger(channel, ())
    sent: list[tuple[int, bool]] = []
    real_ack = channel.basic_ack

    def basic_ack(tag: int, multiple: bool = False) -> None:
        sent.append((tag, multiple))
        real_ack(tag, multiple=multiple)

    channel.basic_ack = basic_ack
    for tag in tags:
        ledger.delivered(tag)
    return ledger, sent


def test_a_batch_below_every_unsettled_delivery_is_acked_at_once(deliveries) -> None:
    channel, tags, ready = deliveries
    ledger, sent = ledger_on(channel, tags)
    ledger.settle(ack=tags[:3])
    assert sent == [(tags[2], True)]
    channel.close()  # the unsettled three come back, the acked three do not
    assert ready() == 3


def test_a_batch_returning_before_an_earlier_one_is_acked_one_by_one(deliveries) -> None:
    channel, tags, ready = deliveries
    ledger, sent = ledger_on(channel, tags)
    ledger.settle(ack=tags[3:])  # the batch of tags 1-3 is still in a pool process
    assert sent == [(tag, False) for tag in tags[3:]]
    ledger.settle(ack=tags[:2], requeue=tags[2:3])
    assert sent[3:] == [(tags[1], True)]
    assert channel.is_open  # no tag was acked twice (RabbitMQ closes the channel on an unknown tag)
    channel.close()
    assert ready() == 1  # only the requeued one


def test_acks_above_a_message_held_for_its_eta_go_one_by_one(deliveries) -> None:
    channel, tags, ready = deliveries
    ledger, sent = ledger_on(channel, tags)
    ledger.settle(ack=tags[1:])  # tags[0] waits for its ETA
    assert sent == [(tag, False) for tag in tags[1:]]
    channel.close()
    assert ready() == 1
