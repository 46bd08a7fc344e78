"""The messaging floor's live figures for ``/metrics`` (:mod:`tts_common.base.metrics`): queue depth and consumers
read from the broker, and the outbox's backlog. Registered by tts_common's AppConfig."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

from tts_common import contracts
from tts_common.base import metrics
from tts_common.messaging import outbox
from tts_common.messaging.celery_app import celery_app

BROKER_TIMEOUT_SECONDS = 2
MONITORED_QUEUES: tuple[str, ...] = (*contracts.ALL_CONSUMED_QUEUES, contracts.TICKET_DLQ)


def read_queues() -> dict[str, tuple[int, int]]:
    """``{queue: (messages ready, consumers)}`` by passive declares (which never create a queue)."""
    stats: dict[str, tuple[int, int]] = {}
    with celery_app().connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
        channel: Any = conn.channel()  # py-amqp's (kombu-stubs type it StdChannel, without close)
        try:
            for name in MONITORED_QUEUES:
                try:
                    # py-amqp's queue_declare_ok_t (kombu-stubs say str)
                    declared: Any = contracts.declared_queue(name)(channel).queue_declare(passive=True)
                except conn.channel_errors:  # not declared yet by anyone: empty; the error closed the channel
                    stats[name] = (0, 0)
                    channel = conn.channel()
                    continue
                stats[name] = (declared.message_count, declared.consumer_count)
        finally:
            channel.close()
    return stats


def queue_metrics(stats: dict[str, tuple[int, int]]) -> Iterator[Metric]:
    depth = GaugeMetricFamily("tts_queue_messages", "Messages ready in the queue.", labels=["queue"])
    consumers = GaugeMetricFamily("tts_queue_consumers", "Consumers attached to the queue.", labels=["queue"])
    for queue, (messages, attached) in stats.items():
        depth.add_metric([queue], messages)
        consumers.add_metric([queue], attached)
    yield depth
    yield consumers


def outbox_metrics(backlog: tuple[int, float | None]) -> Iterator[Metric]:
    waiting, oldest_age = backlog
    yield GaugeMetricFamily("tts_outbox_messages", "Messages in the outbox: committed, not yet confirmed by the "
                            "broker (the relay publishes those a dead process or a refusing broker left).", value=waiting)
    yield GaugeMetricFamily("tts_outbox_oldest_age_seconds", "Age of the oldest message in the outbox (0 when it "
                            "is empty).", value=oldest_age or 0)


def register() -> None:
    metrics.register_live_source("broker", read_queues, queue_metrics)
    metrics.register_live_source("outbox", outbox.backlog, outbox_metrics)
