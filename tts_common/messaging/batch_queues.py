"""The batch consumers' queues, consumed on a channel of their own (a Celery consumer bootstep).

Celery's own task consumer reads every queue of a worker on one channel and acks each message with a
``basic_ack`` of its own: one socket write in the worker's parent and one ack for RabbitMQ to process per message,
which was a fifth of the parent's time at full intake. On a channel that carries nothing but batch messages the
worker knows every delivery, so :class:`AckLedger` can ack a whole batch with one ``basic_ack(multiple=True)``
whenever no delivery below it is still unsettled (the usual case: batches return in order).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial
from typing import Any

import amqp
from celery import bootsteps
from kombu import Consumer
from kombu.message import Message

from tts_common import contracts
from tts_common.messaging.batching import BufferedMessage
from tts_common.messaging.worker import BatchConsumer

logger = logging.getLogger(__name__)


class AckLedger:
    """Settles the deliveries of one channel, all of which it is told about (:meth:`delivered`)."""

    def __init__(self, channel: Any, connection_errors: tuple[type[BaseException], ...]) -> None:
        self.channel = channel
        # kombu's in-process transports (the embedded profile's filesystem broker) ignore ``multiple``.
        self._multiple = isinstance(channel, amqp.Channel)
        self._errors = connection_errors
        self._unsettled: set[int] = set()

    def delivered(self, tag: int) -> None:
        self._unsettled.add(tag)

    def settle(self, ack: Iterable[int] = (), requeue: Iterable[int] = (), drop: Iterable[int] = ()) -> None:
        """Ack, requeue or drop (reject) these deliveries. One ``basic_ack(multiple=True)`` covers the acks below
        every unsettled delivery (it acks all of the channel's unacked deliveries up to its tag); the rest, above a
        delivery still in a batch or waiting for its ETA, are acked one by one."""
        ack, requeue, drop = list(ack), list(requeue), list(drop)
        self._unsettled.difference_update(ack, requeue, drop)
        try:
            for tag in requeue:
                self.channel.basic_reject(tag, requeue=True)
            for tag in drop:
                self.channel.basic_reject(tag, requeue=False)
            if self._multiple and ack:
                lowest_unsettled = min(self._unsettled, default=None)
                below = [tag for tag in ack if lowest_unsettled is None or tag < lowest_unsettled]
                if below:
                    self.channel.basic_ack(max(below), multiple=True)
                    ack = [tag for tag in ack if lowest_unsettled is not None and tag > lowest_unsettled]
            for tag in ack:
                self.channel.basic_ack(tag)
        except self._errors:  # the channel or connection is gone: the broker redelivers these messages
            logger.warning("could not settle messages: the broker channel is closed", exc_info=True)


def batch_consumers(app: Any) -> dict[str, list[BatchConsumer[Any]]]:
    """Each queue that batch consumers read (DESIGN §2's routes), with its consumers in the order of the routes: a
    queue may carry several tasks (TICKET_TASKS_PRODUCTION: tickets and HDTS's ticket statuses), each message going
    to the consumer its task names."""
    consumers: dict[str, list[BatchConsumer[Any]]] = {}
    for route in contracts.ROUTES:
        if isinstance(task := app.tasks.get(route.task), BatchConsumer):
            consumers.setdefault(route.queue, []).append(task)
    return consumers


class BatchQueues(bootsteps.ConsumerStep):
    """Takes the worker's batch queues away from Celery's task consumer (before it starts) and consumes them on a
    channel of their own, restarted with each broker connection. Each message goes, undecoded, to the buffer of the
    batch consumer its ``task`` header names; a message naming no task of its queue goes to the queue's first
    consumer marked undecodable, which dead-letters it with the reason (Celery's consumer would drop it)."""

    def __init__(self, c: Any, **kwargs: Any) -> None:
        super().__init__(c, **kwargs)
        queues = c.app.amqp.queues
        consumed = {name: tasks for name, tasks in batch_consumers(c.app).items() if name in queues.consume_from}
        self.by_queue = {name: tasks[0] for name, tasks in consumed.items()}
        # (queue, task name) -> consumer: a task is legitimate only on the queue its route names.
        self.by_name = {(name, task.name): task for name, tasks in consumed.items() for task in tasks}
        self.queues = [queues.consume_from[name] for name in self.by_queue]
        queues.deselect(list(self.by_queue))

    def start(self, c: Any) -> None:
        if not self.queues:
            return
        channel = c.connection.channel()
        channel.basic_qos(0, c.prefetch_multiplier * max(1, c.pool.num_processes or 1), False)
        ledger = AckLedger(channel, c.connection_errors + c.channel_errors)
        for task in set(self.by_name.values()):
            task.attach(c.pool, c.timer, ledger)
        self.consumers = [
            Consumer(channel, queues=[queue], on_message=partial(self._on_message, ledger, queue.name))
            for queue in self.queues
        ]
        if c.hub is None:
            self._consume()
        else:  # as Celery's task consumer: once the event loop runs (the pool takes no job before it does)
            c.hub.call_soon(self._consume)

    def _consume(self) -> None:
        for consumer in self.consumers or []:
            consumer.consume()

    def _on_message(self, ledger: AckLedger, queue: str, message: Message) -> None:
        ledger.delivered(message.delivery_tag)
        name, payload = task_name(message)
        task = self.by_name.get((queue, name))
        refused = None
        if task is None:
            task = self.by_queue[queue]
            refused = f"validation: the message names no task of this queue ({name!r})"
        task.buffer(BufferedMessage(message, payload, ledger, refused))


def task_name(message: Message) -> tuple[str | None, dict[str, Any] | None]:
    """The task a message names: in its headers (protocol 2) or, decoded, in its body (protocol 1; returned too)."""
    name = (message.headers or {}).get("task")
    if name is not None:
        return name, None
    try:
        payload = message.decode()
    except Exception:
        return None, None
    return (payload.get("task"), payload) if isinstance(payload, dict) else (None, None)
