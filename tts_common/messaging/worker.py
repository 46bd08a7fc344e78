"""Reliable queue consumers, after Zulip's ``zerver/worker/base.py``: one Celery task per queue, and a shared base
that owns reliability so that each consumer only decodes its message and calls a service function.

- :class:`QueueConsumer` handles one message per call: acks late, retries transient errors with exponential
  backoff, and on a message that can never succeed (or retries exhausted) dead-letters it or logs it. The worker
  never dies on a message.
- :class:`BatchConsumer` (on celery-batches; its queues are read by :mod:`tts_common.messaging.batch_queues`, and its
  messages reach the pool undecoded, :mod:`tts_common.messaging.batching`) hands a list of decoded messages to one set-based
  service call. An undecodable message is set aside before the batch runs; if the batch fails, its messages are
  retried one by one so that one bad message never fails or delays its neighbours. Messages are acked only after
  their outcome (done, scheduled for retry, or dead-lettered) is durable; anything else is requeued. While the
  database is unreachable no message is at fault: the batch is rescheduled without using up its messages' retries.
"""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Collection, Sequence
from typing import Any, Generic, TypeVar, cast

from celery import Task
from celery.exceptions import Reject
from celery_batches import Batches, SimpleRequest, consume_queue
from django import db
from django.conf import settings
from kombu.message import Message

from tts_common.base import metrics
from tts_common.base.logging import CORRELATION_HEADER, bound_correlation_id, correlation_id
from tts_common.messaging import publisher
from tts_common.messaging.acks import AckLedger
from tts_common.messaging.batching import BufferedMessage, run_batch

logger = logging.getLogger(__name__)

Item = TypeVar("Item")

# A message's count of reschedules for a database outage (header); they use up none of its ``retries``.
OUTAGES_HEADER = "x-outage-retries"
OUTAGE_MAX_DELAY_SECONDS = 30.0


class PermanentError(Exception):
    """The message can never succeed (invalid payload, bad signature): no retry."""


def backoff_seconds(retries: int, jitter: bool) -> float:
    """base × 2^n s for the n-th retry (n from 1; ``CONSUMER_RETRY_BASE_SECONDS``, 1 s: DESIGN §2's 2^n s, which tests
    shorten); with full jitter, a random share of it."""
    delay = settings.CONSUMER_RETRY_BASE_SECONDS * 2.0 ** (retries + 1)
    return random.uniform(delay / 2, delay) if jitter else delay


def database_unavailable(exc: Exception) -> bool:
    """Whether ``exc`` means the database cannot be reached (stopped, restarting, failing over) rather than that a
    statement failed: for a connection-level error, the connection is dropped and a new one tried."""
    if not isinstance(exc, (db.OperationalError, db.InterfaceError)):
        return False
    try:
        db.connection.close()
        db.connection.ensure_connection()
    except db.Error:
        return True
    return False


class ConsumerMixin:
    """What both consumers share: the retry policy and what becomes of a message that gives up."""

    name: str
    #: dead-letter queue for messages that give up; ``None`` = log and record only.
    dead_letter_source: str | None = None
    max_retries: int = 3
    retry_jitter: bool = False

    def on_give_up(self, kwargs: dict[str, Any], reason: str, retries: int) -> None:
        """Hook for a consumer to record a message that gave up (e.g. an integration-errors table)."""

    def give_up(self, kwargs: dict[str, Any], reason: str, retries: int, message_id: str | None) -> None:
        """Make the message's failure durable; raises if it could not (the caller then requeues the message).

        ``message_id`` (the consumed message's id; none for a message that is not Celery's) becomes the dead letter's:
        a redelivery of a message whose dead letter was published but not acked is dead-lettered again under the same
        id, and stored once.

        With a dead-letter queue, the dead letter is that durable record and ``on_give_up`` is best effort: were a
        failing hook (say, the database being down, the very reason retries ran out) to requeue the message, it
        would loop through give-up forever instead of reaching the DLQ. Without one, the hook is the only record.
        """
        logger.error("message gave up", extra={"operation": self.name, "reason": reason, "retries": retries})
        if not self.dead_letter_source:
            self.on_give_up(kwargs, reason, retries)
            metrics.count_message(self.name, metrics.Outcome.GAVE_UP)
            return
        publisher.dead_letter(
            self.dead_letter_source,
            reason,
            {"task": self.name, "kwargs": kwargs, "retries": retries},
            message_id=f"{self.name}:{message_id}" if message_id else None,
        )
        metrics.count_message(self.name, metrics.Outcome.DEAD_LETTERED)
        try:
            self.on_give_up(kwargs, reason, retries)
        except Exception:
            logger.exception("dead-lettered, but on_give_up failed", extra={"operation": self.name})


# Task is generic in celery-types only; its max_retries may be None, a consumer's never is.
class QueueConsumer(ConsumerMixin, Task):  # type: ignore[misc, type-arg]
    """One message per call; subclasses implement ``run(**kwargs)`` (decode, then call a service)."""

    abstract = True
    acks_late = True
    reject_on_worker_lost = True
    typing = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        correlation_id.set((self.request.headers or {}).get(CORRELATION_HEADER) or self.request.id)
        started = time.perf_counter()
        try:
            result = super().__call__(*args, **kwargs)
        except PermanentError as exc:
            self._give_up_or_requeue(kwargs, str(exc))
        except Exception as exc:
            if self.request.retries >= self.max_retries:
                self._give_up_or_requeue(kwargs, f"{type(exc).__name__}: {exc}")
                return None
            logger.warning("retrying", extra={"operation": self.name, "error": repr(exc)})
            metrics.count_message(self.name, metrics.Outcome.RETRIED)
            raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries, self.retry_jitter)) from exc
        else:
            metrics.count_message(self.name, metrics.Outcome.SUCCEEDED)
            return result
        finally:
            metrics.sync_circuits()
            logger.info(
                "consumed",
                extra={"operation": self.name, "duration_ms": round((time.perf_counter() - started) * 1000, 2)},
            )
        return None

    def _give_up_or_requeue(self, kwargs: dict[str, Any], reason: str) -> None:
        try:
            self.give_up(kwargs, reason, self.request.retries, self.request.id)
        except Exception as exc:  # the dead letter is not durable: keep the message rather than lose it
            metrics.count_message(self.name, metrics.Outcome.REQUEUED)
            raise Reject(exc, requeue=True) from exc


class BatchConsumer(ConsumerMixin, Batches, Generic[Item]):  # type: ignore[misc]  # celery-batches is untyped
    """Many messages per call; subclasses implement ``decode`` (one message) and ``process`` (a whole batch).

    ``process`` must be atomic (all or nothing) and idempotent: messages are delivered at least once.
    """

    abstract = True
    acks_late = True
    flush_every = 200
    flush_interval = 0.05

    def __init__(self) -> None:
        super().__init__()
        self._in_flight = 0  # batches handed to the pool (on the current broker connection) and not yet returned
        self._connection_generation = 0
        self._timer: Any = None
        self._ledger: AckLedger | None = None

    def attach(self, pool: Any, timer: Any, ledger: AckLedger) -> None:
        """Start consuming on a (new) broker connection (:mod:`tts_common.messaging.batch_queues`). A reconnect clears the
        worker's timers (celery/worker/loops.py), discards the pool jobs not yet started and makes every unacked
        message of the old connection come back from the broker: so start afresh. A dead flush timer would never
        flush on time again (intake stalled after a broker restart); batches lost with the pool jobs would count as
        in flight for ever; the buffered messages can no longer be acked, and the broker redelivers them."""
        self._tref = None
        self._connection_generation += 1
        self._in_flight = 0
        for queue in (self._buffer, self._pending):
            list(consume_queue(queue))  # emptied
        self._pool, self._timer, self._ledger = pool, timer, ledger

    def buffer(self, message: BufferedMessage) -> None:
        self._buffer.put(message)
        if self._tref is None:  # the first message starts the flush timer
            self._tref = self._timer.call_repeatedly(self.flush_interval, self._do_flush)
        if not next(self._count) % self.flush_every:
            self._do_flush()

    def Strategy(self, task: Any, app: Any, consumer: Any) -> Any:  # noqa: N802 (celery's name)
        """Batch messages are consumed from their own queues (:mod:`tts_common.messaging.batch_queues`); one reaching
        Celery's task consumer came by another queue, against the routes (contracts.py): it is refused, as Celery
        refuses a message for a task it does not know."""

        def refuse(message: Message, payload: Any, ack: Any, reject: Any, callbacks: Any, **_: Any) -> None:
            logger.error(
                "batch message on a queue its routes do not give it; rejected",
                extra={"operation": self.name, "queue": message.delivery_info.get("routing_key")},
            )
            reject(logger, consumer.connection_errors)

        return refuse

    def message_kwargs(self, args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The message as keyword arguments. A consumer whose producers also pass positional arguments names them
        here; by default these are ignored, as they always were."""
        return kwargs

    def decode(self, kwargs: dict[str, Any]) -> Item:
        """Validate one message; raise :class:`PermanentError` if it can never succeed."""
        raise NotImplementedError

    def process(self, items: Sequence[Item]) -> None:
        raise NotImplementedError

    def run(self, requests: Sequence[SimpleRequest]) -> list[str]:
        """Returns the ids of requests to requeue (their outcome could not be made durable).

        What concerns one message (a retry, a give-up) is logged under its correlation id; the batch's line lists the
        ids of the messages it consumed.
        """
        correlation_id.set(None)
        started = time.perf_counter()
        decoded: list[tuple[SimpleRequest, Item]] = []
        done: list[SimpleRequest] = []
        requeue: list[str] = []
        for request in requests:
            with bound_correlation_id(self.correlation_id_of(request)):
                try:
                    if getattr(request, "undecodable", None):
                        raise PermanentError(request.undecodable)
                    # From here on (decode, retry, dead letter) the message is its kwargs alone.
                    request.kwargs, request.args = self.message_kwargs(request.args, request.kwargs), ()
                    decoded.append((request, self.decode(request.kwargs)))
                except Exception as exc:  # an undecodable message is never retried
                    requeue += self._settle(request, exc, permanent=True)
        if decoded:
            try:
                self.process([item for _, item in decoded])
                done = [request for request, _ in decoded]
            except Exception as exc:
                if database_unavailable(exc):  # one by one would fail alike, and use up every message's retries
                    logger.warning("database unavailable; rescheduling the batch", extra={"operation": self.name})
                    for request, _ in decoded:
                        with bound_correlation_id(self.correlation_id_of(request)):
                            requeue += self._reschedule_for_outage(request)
                else:
                    logger.exception("batch failed; retrying its messages one by one", extra={"operation": self.name})
                    for request, item in decoded:
                        with bound_correlation_id(self.correlation_id_of(request)):
                            try:
                                self.process([item])
                                done.append(request)
                            except Exception as exc:
                                requeue += self._settle(request, exc, permanent=isinstance(exc, PermanentError))
        metrics.count_message(self.name, metrics.Outcome.SUCCEEDED, len(done))
        metrics.sync_circuits()
        consumed_ids = list(dict.fromkeys(self.correlation_id_of(request) for request in done))
        logger.info(
            "batch consumed",
            extra={
                "operation": self.name,
                "batch_size": len(requests),
                # One line for the batch: a line per message (~50 us) would cost a good share of storing it.
                "correlation_ids": consumed_ids,
                "correlation_id": consumed_ids[0] if len(consumed_ids) == 1 else None,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        return requeue

    def correlation_id_of(self, request: SimpleRequest) -> str:
        """The message's correlation id (its header), or its own id when the producer sent none; a consumer may
        override this to fall back on an id from the payload instead."""
        return cast(str, (request.request_dict or {}).get(CORRELATION_HEADER) or request.id)

    def _settle(self, request: SimpleRequest, exc: Exception, permanent: bool) -> list[str]:
        """Dead-letter or reschedule one failed message; ``[request.id]`` if that itself failed."""
        retries, outages = self._attempts(request)
        reason = str(exc) if isinstance(exc, PermanentError) else f"{type(exc).__name__}: {exc}"
        try:
            if permanent or retries >= self.max_retries:
                self.give_up(request.kwargs, reason, retries, request.id)
            else:
                logger.warning("retrying", extra={"operation": self.name, "error": reason, "retries": retries})
                self._send_again(request, backoff_seconds(retries, self.retry_jitter), retries + 1, outages)
        except Exception:
            return self._requeue(request)
        return []

    def _reschedule_for_outage(self, request: SimpleRequest) -> list[str]:
        """Send the message again later with its retries untouched (DESIGN's retries are for failures of the message;
        a database outage is none, and outlasting it is what matters); ``[request.id]`` if that failed."""
        retries, outages = self._attempts(request)
        try:
            delay = min(backoff_seconds(outages, self.retry_jitter), OUTAGE_MAX_DELAY_SECONDS)
            self._send_again(request, delay, retries, outages + 1)
        except Exception:
            return self._requeue(request)
        return []

    @staticmethod
    def _attempts(request: SimpleRequest) -> tuple[int, int]:
        """(retries, outage reschedules) of the message so far."""
        request_dict = request.request_dict or {}
        return int(request_dict.get("retries") or 0), int(request_dict.get(OUTAGES_HEADER) or 0)

    def _send_again(self, request: SimpleRequest, countdown: float, retries: int, outages: int) -> None:
        metrics.count_message(self.name, metrics.Outcome.RETRIED)
        self.app.send_task(
            self.name,
            kwargs=request.kwargs,
            queue=request.delivery_info.get("routing_key"),
            countdown=countdown,
            retries=retries,
            headers={CORRELATION_HEADER: correlation_id.get(), OUTAGES_HEADER: outages},
        )

    def _requeue(self, request: SimpleRequest) -> list[str]:
        logger.exception("could not settle a failed message; requeueing it", extra={"operation": self.name})
        metrics.count_message(self.name, metrics.Outcome.REQUEUED)
        return [request.id]

    def _do_flush(self) -> None:
        """Hand the buffer to the pool only when one of its processes is free (checked by the timer and each time
        a batch returns). celery-batches flushes on every tick regardless: under load the pool's queue then fills
        with tiny batches that each pay the whole per-batch cost, and throughput collapses. Waiting instead lets
        the buffer grow while the pool is busy (batch size adapts to load, up to the prefetch limit) and keeps
        latency at one tick when idle."""
        if self._in_flight >= max(1, self._pool.num_processes or 1):
            return
        super()._do_flush()

    def flush(self, messages: Collection[BufferedMessage]) -> Any:
        """Hands a batch to the pool; when it returns, acks what ``run`` settled and requeues the rest (or all, if
        the pool process died). A batch that returns after a reconnect settles nothing: its messages were on the
        old connection, and the broker has redelivered them."""
        messages = list(messages)
        generation, ledger = self._connection_generation, self._ledger
        assert ledger is not None, "attach() gives the ledger before any message is buffered"

        def on_return(requeue_ids: list[str] | None) -> None:
            if generation != self._connection_generation:
                return
            # None: the batch failed as a whole, or its pool process died: every message goes back.
            requeue = {message.id for message in messages} if requeue_ids is None else set(requeue_ids)
            ledger.settle(
                ack=[message.tag for message in messages if message.id not in requeue],
                requeue=[message.tag for message in messages if message.id in requeue],
            )
            self._in_flight -= 1
            if not self._buffer.empty() or not self._pending.empty():
                self._do_flush()

        def on_error(*_: Any) -> None:
            on_return(None)

        self._in_flight += 1
        try:
            return self._pool.apply_async(
                run_batch, (self, [message.wire for message in messages]), callback=on_return, error_callback=on_error
            )
        except Exception:
            self._in_flight -= 1
            raise
