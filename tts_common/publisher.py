"""Publishing many messages at once with one socket write and one publisher-confirm wait (shared by the services
that publish in bulk: workflow_api's notifications, notification_service's email chunks).

``tts_common.bus.publish`` waits for the broker's confirm of each message; RabbitMQ confirms a persistent message
after writing it to disk, which costs milliseconds per message (measured ~8 ms here) and would cap a batch of
200 notifications at a few hundred a second. Here a batch is published on a confirm-mode channel without waiting
and the confirms are then awaited together: the broker writes the lot at once. Other brokers (the embedded
filesystem transport) fall back to ``bus.publish`` per message.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import amqp
from amqp import spec
from amqp.exceptions import MessageNacked
from amqp.method_framing import frame_writer
from kombu import Connection

from tts_common import bus, contracts
from tts_common.logging import CORRELATION_HEADER, bound_correlation_id, correlation_id

logger = logging.getLogger(__name__)

CONFIRM_TIMEOUT_SECONDS = 30


@dataclass(frozen=True, slots=True)
class Outgoing:
    route: contracts.Route
    kwargs: dict[str, Any] = field(default_factory=dict)
    args: tuple[Any, ...] = ()


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
        from tts.celery import app

        # Without kombu's confirm_publish (which makes basic_publish wait each time); confirms are enabled below.
        self._connection = app.connection_for_write(transport_options={"confirm_publish": False})
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

    def _send(self, message: Outgoing, correlation: str | None) -> None:
        """One Celery protocol-2 task message written straight to the channel (``send_task`` and kombu's Producer
        cost several times the message itself: routing, saferepr, ...). The headers are the ones a Celery worker
        reads (``task`` and ``id`` required, the rest read with defaults); a worker of any Celery 4+/5 consumes it."""
        queue = message.route.queue  # declared by publish()
        task_id = str(uuid.uuid4())
        headers = {
            "lang": "py",
            "task": message.route.task,
            "id": task_id,
            "root_id": task_id,
            "parent_id": None,
            "group": None,
            "retries": 0,
            "eta": None,
            "expires": None,
            "timelimit": [None, None],
            "ignore_result": False,
            CORRELATION_HEADER: correlation,
        }
        body = json.dumps([list(message.args), message.kwargs, _EMBED])
        self._channel.basic_publish(
            amqp.Message(
                body,
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
                priority=0,
                correlation_id=task_id,
                application_headers=headers,
            ),
            exchange=queue,
            routing_key=queue,
        )
        self._published += 1
        self._unconfirmed.add(self._published)

    def _send_all(self, messages: Sequence[Outgoing], correlation: str | None) -> None:
        """Publish the lot with ONE socket write: py-amqp writes each frame as it is made (a syscall and a broker
        wake-up per message, the largest single cost of a batch); here the frames are collected, then written."""
        connection = self._connection.connection  # the py-amqp connection under kombu's
        direct = connection.frame_writer
        collected = _CollectingTransport()
        connection.frame_writer = frame_writer(connection, collected)
        try:
            for message in messages:
                self._send(message, correlation)
        finally:
            connection.frame_writer = direct
        connection.transport.write(b"".join(collected.chunks))

    def publish(self, messages: Sequence[Outgoing], correlation: str | None = None) -> None:
        """Retries with the waits of ``bus.publish`` (~40 s in all, with the attempts): a batch published after its
        transaction committed has no other copy, so giving up early, say during a broker restart, would lose it."""
        with self._lock:
            for attempt, delay in enumerate([*bus.publish_retry_delays(), None], start=1):
                try:
                    if self._pid != os.getpid():  # a forked child: the parent's socket is not ours to use or close
                        self._connection = None
                    if self._connection is None:
                        self._open()
                    self._nacked = False
                    # Declarations first, written directly (they wait for the broker's answer).
                    for queue in {message.route.queue for message in messages} - self._declared:
                        contracts.declared_queue(queue)(self._channel).declare()
                        self._declared.add(queue)
                    self._send_all(messages, correlation)
                    while self._unconfirmed:
                        self._channel.wait([spec.Basic.Ack, spec.Basic.Nack], timeout=CONFIRM_TIMEOUT_SECONDS)
                    if self._nacked:
                        raise MessageNacked("the broker refused a message")
                    return
                except Exception:
                    # At-least-once: the whole batch is sent again on a fresh connection (consumers are idempotent
                    # or, for notifications, a rare duplicate beats a lost one).
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


# Protocol 2's third body element: no callbacks, errbacks, chain or chord.
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


_channel = _ConfirmChannel()


def publish_batch(messages: Sequence[Outgoing], correlation: str | None = None) -> None:
    """Publish now, returning once the broker has confirmed every message; they carry ``correlation`` (default:
    the current correlation id)."""
    if not messages:
        return
    from django.conf import settings

    correlation = correlation or correlation_id.get()
    if not settings.CELERY_BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://")):
        with bound_correlation_id(correlation):
            for message in messages:
                bus.publish(message.route, args=message.args, **message.kwargs)
        return
    _channel.publish(messages, correlation)
