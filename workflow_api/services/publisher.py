"""Publishing many messages at once with one publisher-confirm wait.

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
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import amqp
from amqp import spec
from amqp.exceptions import MessageNacked
from django.db import transaction
from kombu import Connection

from tts_common import bus, contracts
from tts_common.logging import correlation_id

logger = logging.getLogger(__name__)

CONFIRM_TIMEOUT_SECONDS = 30
ATTEMPTS = 3


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

    def _send(self, app: Any, message: Outgoing) -> None:
        """One Celery protocol-2 task message, built by Celery itself and written straight to the channel:
        ``send_task`` and kombu's Producer cost several times the message itself (routing, saferepr, ...)."""
        queue = message.route.queue
        if queue not in self._declared:
            contracts.declared_queue(queue)(self._channel).declare()
            self._declared.add(queue)
        task_id = str(uuid.uuid4())
        headers, properties, body, _ = app.amqp.as_task_v2(
            task_id,
            message.route.task,
            args=message.args,
            kwargs=message.kwargs,
            argsrepr=repr(message.args)[:1024],
            kwargsrepr=repr(message.kwargs)[:1024],
        )
        headers["correlation_id"] = correlation_id.get()
        self._channel.basic_publish(
            amqp.Message(
                json.dumps(body),
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
                priority=0,
                correlation_id=properties["correlation_id"],
                application_headers=headers,
            ),
            exchange=queue,
            routing_key=queue,
        )
        self._published += 1
        self._unconfirmed.add(self._published)

    def publish(self, messages: Sequence[Outgoing]) -> None:
        from tts.celery import app

        with self._lock:
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    if self._pid != os.getpid():  # a forked child: the parent's socket is not ours to use or close
                        self._connection = None
                    if self._connection is None:
                        self._open()
                    self._nacked = False
                    for message in messages:
                        self._send(app, message)
                    while self._unconfirmed:
                        self._channel.wait([spec.Basic.Ack, spec.Basic.Nack], timeout=CONFIRM_TIMEOUT_SECONDS)
                    if self._nacked:
                        raise MessageNacked("the broker refused a message")
                    return
                except Exception:
                    # At-least-once: the whole batch is sent again on a fresh connection (consumers are idempotent
                    # or, for notifications, a rare duplicate beats a lost one).
                    self._close()
                    if attempt == ATTEMPTS:
                        raise
                    logger.warning("batch publish failed; retrying", exc_info=True, extra={"attempt": attempt})


_channel = _ConfirmChannel()


def publish_batch(messages: Sequence[Outgoing]) -> None:
    """Publish now, returning once the broker has confirmed every message."""
    if not messages:
        return
    from django.conf import settings

    if not settings.CELERY_BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://")):
        for message in messages:
            bus.publish(message.route, args=message.args, **message.kwargs)
        return
    _channel.publish(messages)


def publish_batch_on_commit(messages: Sequence[Outgoing]) -> None:
    """Publish once the current transaction commits (nothing on rollback): one callback for the whole batch."""
    if messages:
        batch = list(messages)
        transaction.on_commit(lambda: publish_batch(batch), robust=True)
