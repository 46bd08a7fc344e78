"""The batch consumers' queues, consumed on a channel of their own (a Celery consumer bootstep).

Celery's own task consumer reads every queue of a worker on one channel and acks each message with a
``basic_ack`` of its own: one socket write in the worker's parent and one ack for RabbitMQ to process per message,
which was a fifth of the parent's time at full intake. On a channel that carries nothing but batch messages the
worker knows every delivery, so :class:`~tts_common.messaging.acks.AckLedger` can ack a whole batch with one
``basic_ack(multiple=True)`` whenever no delivery below it is still unsettled (the usual case: batches return in order).
"""
from __future__ import annotations

from functools import partial
from typing import Any, cast

from celery import bootsteps
from kombu import Consumer
from kombu.message import Message

from tts_common import contracts
from tts_common.messaging.acks import AckLedger
from tts_common.messaging.batching import BufferedMessage
from tts_common.messaging.worker import BatchConsumer


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
        self.by_name: dict[tuple[str, str | None], BatchConsumer[Any]] = {(name, task.name): task for name, tasks in consumed.items() for task in tasks}
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
        ledger.delivered(cast(int, message.delivery_tag))  # kombu-stubs say str
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
