"""Messages published after commit that the broker could not take: kept in the database, published again later.

A publish after commit retries a broker outage (``bus.PUBLISH_RETRY_POLICY``: ten attempts, ~40 s of waits between
them); the transaction that produced the message has committed, so giving up then would lose it. Instead it is
parked (:func:`park`), and :func:`resend_unsent` (a beat job, ``contracts.UNSENT_RESEND``) publishes what is
parked, oldest first, once the broker answers again. Consumers are idempotent, so a message that was in fact delivered before the error is only
a duplicate. A process killed between the commit and the publish still loses its messages: that window is
milliseconds, and closing it would take a write per message in every transaction (a transactional outbox).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from itertools import groupby

from django.db import transaction

from . import contracts, publisher, text
from .models import UnsentMessage
from .publisher import Outgoing

logger = logging.getLogger(__name__)

RESEND_BATCH_SIZE = 500


def park(messages: Sequence[Outgoing], correlation: str | None, error: BaseException) -> None:
    """Keep messages the broker refused; if even that fails (the database is down too), they are logged, lost."""
    reason = text.storable(f"{type(error).__name__}: {error}")
    try:
        UnsentMessage.objects.bulk_create(
            UnsentMessage(
                task=message.route.task,
                queue=message.route.queue,
                args=list(message.args),
                kwargs=message.kwargs,
                correlation_id=correlation or "",
                error=reason,
            )
            for message in messages
        )
    except Exception:
        logger.exception("could not park unsent messages; they are lost", extra={"count": len(messages)})
        raise
    logger.error("broker unreachable; messages parked for resending", extra={"count": len(messages), "reason": reason})


def resend_unsent(batch_size: int = RESEND_BATCH_SIZE) -> int:
    """Publish parked messages, oldest first, a batch at a time; each batch is deleted in the transaction that locked
    it, once the broker confirmed it (rows another run holds are skipped). Returns how many were published."""
    sent = 0
    while True:
        with transaction.atomic():
            rows = list(UnsentMessage.objects.select_for_update(skip_locked=True).order_by("id")[:batch_size])
            if not rows:
                return sent
            for correlation, group in groupby(rows, key=lambda row: row.correlation_id):
                publisher.publish_batch(
                    [Outgoing(contracts.Route(row.task, row.queue), row.kwargs, tuple(row.args)) for row in group],
                    correlation or None,
                )
            UnsentMessage.objects.filter(id__in=[row.id for row in rows]).delete()
        sent += len(rows)
        logger.info("parked messages resent", extra={"count": len(rows)})
