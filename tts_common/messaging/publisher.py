"""The outbox's private transport (:mod:`tts_common.messaging.outbox` is the one way to publish): task messages written to
the broker, many at once, with one socket write and one publisher-confirm wait; and the dead-letter publish of the
consumers (:mod:`tts_common.messaging.worker`).

RabbitMQ confirms a persistent message after writing it to disk, which costs milliseconds per message (measured
~8 ms here) and would cap a batch of 200 notifications at a few hundred a second if each were awaited. Here a batch
is published on a confirm-mode channel without waiting and the confirms are then awaited together: the broker
writes the lot at once. Other brokers (the embedded filesystem transport) get one ``send_task`` per message.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import amqp
from amqp import spec
from amqp.exceptions import MessageNacked
from amqp.method_framing import frame_writer
from kombu import Connection

from tts_common import contracts
from tts_common.base.logging import CORRELATION_HEADER, correlation_id
from tts_common.messaging.celery_app import celery_app

logger = logging.getLogger(__name__)

CONFIRM_TIMEOUT_SECONDS = 30
# Retry a broker outage for ~30 s (a restart takes ~10 s) before giving up on a dead letter: the consumer holds
# the message meanwhile, and requeues it if this fails.
DEAD_LETTER_RETRY_POLICY = {"max_retries": 10, "interval_start": 0.5, "interval_step": 1, "interval_max": 5}


@dataclass(frozen=True, slots=True)
class Envelope:
    """One task message ready to go: its id (the Celery task id, which consumers deduplicate on), task name,
    queue, protocol-2 body (JSON text) and correlation id."""

    id: str
    task: str
    queue: str
    body: str
    correlation: str | None


class _ConfirmChannel:
    """A per-process connection whose channel is in confirm mode, publishing without a per-message wait."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._channel: Any = None
        self._declared: set[str] = set()
        self._published = 0  # delivery tags count up from 1 per channel once confirms are on
        self._unconfirmed: set[int] = set()
        self._nacked = False
        self._pid = 0

    def _open(self) -> None:
        # Without kombu's confirm_publish (which makes basic_publish wait each time); confirms are enabled below.
        # No reconnect loop of kombu's: a failed attempt is retried by publish(), then left in the outbox.
        self._connection = celery_app().connection_for_write(transport_options={"confirm_publish": False, "max_retries": 0})
        # The py-amqp channel itself: kombu's wrapper adds per-publish work this path exists to avoid.
        self._channel = self._connection.default_channel
        self._channel.confirm_select()
        self._channel.events["basic_ack"].add(self._on_ack)
        self._channel.events["basic_nack"].add(self._on_nack)
        self._declared = set()
        self._pid = os.getpid()
        self._published = 0
        self._unconfirmed = set()

    def _close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:  # it is being discarded because it failed
                logger.debug("closing a failed publisher connection", exc_info=True)
        self._connection = self._channel = None

    def _on_ack(self, tag: int, multiple: bool) -> None:
        if multiple:
            self._unconfirmed = {t for t in self._unconfirmed if t > tag}
        else:
            self._unconfirmed.discard(tag)

    def _on_nack(self, tag: int, multiple: bool) -> None:
        self._nacked = True
        self._on_ack(tag, multiple)

    def _send(self, envelope: Envelope) -> None:
        """One Celery protocol-2 task message written straight to the channel (``send_task`` and kombu's Producer
        cost several times the message itself: routing, saferepr, ...). The headers are the ones a Celery worker
        reads (``task`` and ``id`` required, the rest read with defaults); a worker of any Celery 4+/5 consumes it."""
        headers = {
            "lang": "py",
            "task": envelope.task,
            "id": envelope.id,
            "root_id": envelope.id,
            "parent_id": None,
            "group": None,
            "retries": 0,
            "eta": None,
            "expires": None,
            "timelimit": [None, None],
            "ignore_result": False,
            CORRELATION_HEADER: envelope.correlation,
        }
        self._channel.basic_publish(
            amqp.Message(
                envelope.body,
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
                priority=0,
                correlation_id=envelope.id,
                application_headers=headers,
            ),
            exchange=envelope.queue,  # declared by publish()
            routing_key=envelope.queue,
        )
        self._published += 1
        self._unconfirmed.add(self._published)

    def _send_all(self, envelopes: Sequence[Envelope]) -> None:
        """Publish the lot with ONE socket write: py-amqp writes each frame as it is made (a syscall and a broker
        wake-up per message, the largest single cost of a batch); here the frames are collected, then written."""
        assert self._connection is not None, "opened by publish() before it sends"
        connection = self._connection.connection  # the py-amqp connection under kombu's
        direct = connection.frame_writer
        collected = _CollectingTransport()
        connection.frame_writer = frame_writer(connection, collected)
        try:
            for envelope in envelopes:
                self._send(envelope)
        finally:
            connection.frame_writer = direct
        connection.transport.write(b"".join(collected.chunks))

    def publish(self, envelopes: Sequence[Envelope], retry_delays: Sequence[float]) -> None:
        """Publish, then wait for every confirm; on a failure the whole batch is sent again on a fresh connection
        after each of ``retry_delays`` (at least once: consumers deduplicate on the message id)."""
        with self._lock:
            for attempt, delay in enumerate([*retry_delays, None], start=1):
                try:
                    if self._pid != os.getpid():  # a forked child: the parent's socket is not ours to use or close
                        self._connection = None
                    if self._connection is None:
                        self._open()
                    self._nacked = False
                    # Declarations first, written directly (they wait for the broker's answer).
                    for queue in {envelope.queue for envelope in envelopes} - self._declared:
                        contracts.declared_queue(queue)(self._channel).declare()
                        self._declared.add(queue)
                    self._send_all(envelopes)
                    while self._unconfirmed:
                        self._channel.wait([spec.Basic.Ack, spec.Basic.Nack], timeout=CONFIRM_TIMEOUT_SECONDS)
                    if self._nacked:
                        raise MessageNacked("the broker refused a message")
                    return
                except Exception:
                    self._close()
                    if delay is None:
                        raise
                    logger.warning("batch publish failed; retrying", exc_info=True, extra={"attempt": attempt})
                    time.sleep(delay)


class _CollectingTransport:
    """Stands in for the socket transport of a frame writer: keeps the frames (copied: the writer reuses its
    buffer) for one write."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, data: Any) -> None:
        self.chunks.append(bytes(data))


_channel = _ConfirmChannel()


def publish_batch(envelopes: Sequence[Envelope], retry_delays: Sequence[float] = (0.2,)) -> None:
    """Publish now, returning once the broker has confirmed every message (raises if it did not)."""
    if not envelopes:
        return
    from django.conf import settings

    if settings.CELERY_BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://")):
        _channel.publish(envelopes, retry_delays)
        return
    app = celery_app()
    for envelope in envelopes:
        args, kwargs, _ = json.loads(envelope.body)
        app.send_task(
            envelope.task,
            args=args,
            kwargs=kwargs,
            task_id=envelope.id,
            queue=envelope.queue,
            routing_key=envelope.queue,
            headers={CORRELATION_HEADER: envelope.correlation},
        )


def dead_letter(queue: str, reason: str, message: dict[str, Any], *, message_id: str | None = None) -> None:
    """Publish ``message`` (taken from ``queue``) with its ``reason`` to the dead-letter queue (by a consumer that
    gives up on a message it still holds, so not through the outbox: the message is acked only once this returned);
    ``message_id``, when given, names it (the table stores each id once: workflow_api.services.dead_letters)."""
    dlq = contracts.declared_queue(contracts.TICKET_DLQ)
    body = {
        "reason": reason,
        "source_queue": queue,
        "dead_lettered_at": datetime.now(UTC).isoformat(),
        "message": message,
    }
    with celery_app().producer_or_acquire() as producer:
        producer.publish(
            body,
            exchange=dlq.exchange,
            routing_key=dlq.routing_key,
            declare=[dlq],
            serializer="json",
            delivery_mode=2,
            headers={"x-reason": reason[:255], CORRELATION_HEADER: correlation_id.get()},
            message_id=message_id,
            retry=True,
            retry_policy=DEAD_LETTER_RETRY_POLICY,
        )
    logger.warning("dead-lettered", extra={"operation": "dead_letter", "queue": queue, "reason": reason})
