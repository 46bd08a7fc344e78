"""Publishing to the queues of DESIGN §2; consumers use :mod:`tts_common.worker`."""
from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.db import transaction

from . import contracts
from .logging import CORRELATION_HEADER, bound_correlation_id, correlation_id

logger = logging.getLogger(__name__)

# Retry a broker outage for ~30 s (a restart takes ~10 s) before giving up on a publish.
PUBLISH_RETRY_POLICY = {"max_retries": 10, "interval_start": 0.5, "interval_step": 1, "interval_max": 5}


def publish_retry_delays() -> list[float]:
    """The waits between the attempts of :data:`PUBLISH_RETRY_POLICY`, for a publisher that retries by itself."""
    policy = PUBLISH_RETRY_POLICY
    return [
        min(policy["interval_start"] + n * policy["interval_step"], policy["interval_max"])
        for n in range(policy["max_retries"])
    ]


def _app():
    from tts.celery import app

    return app


def publish(route: contracts.Route, *, args: tuple[Any, ...] = (), **kwargs: Any) -> None:
    """Send a task message now (with publisher confirms on RabbitMQ)."""
    _app().send_task(
        route.task,
        args=args,
        kwargs=kwargs,
        queue=route.queue,
        routing_key=route.queue,
        headers={CORRELATION_HEADER: correlation_id.get()},
        retry=True,
        retry_policy=PUBLISH_RETRY_POLICY,
    )
    logger.debug("published", extra={"operation": route.task, "queue": route.queue})


def publish_on_commit(route: contracts.Route, *, args: tuple[Any, ...] = (), **kwargs: Any) -> None:
    """Send once the current transaction commits (at once outside one); nothing is sent on rollback.

    The message carries the caller's correlation id, taken now: at commit time the context may be another's. If the
    broker still refuses it after the retries, it is parked for the resend job (:mod:`tts_common.unsent`).
    """
    caller_correlation_id = correlation_id.get()

    def send() -> None:
        with bound_correlation_id(caller_correlation_id):
            try:
                publish(route, args=args, **kwargs)
            except Exception as exc:
                from . import unsent  # here: unsent imports publisher, which imports this module
                from .publisher import Outgoing

                unsent.park([Outgoing(route, kwargs, args)], caller_correlation_id, exc)

    transaction.on_commit(send, robust=True)


def dead_letter(queue: str, reason: str, message: dict[str, Any], *, message_id: str | None = None) -> None:
    """Publish ``message`` (taken from ``queue``) with its ``reason`` to the dead-letter queue; ``message_id``, when
    given, names it (the table stores each id once: workflow_api.services.dead_letters)."""
    dlq = contracts.declared_queue(contracts.TICKET_DLQ)
    body = {
        "reason": reason,
        "source_queue": queue,
        "dead_lettered_at": datetime.now(UTC).isoformat(),
        "message": message,
    }
    app = _app()
    with app.producer_or_acquire() as producer:
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
            retry_policy=PUBLISH_RETRY_POLICY,
        )
    logger.warning("dead-lettered", extra={"operation": "dead_letter", "queue": queue, "reason": reason})
