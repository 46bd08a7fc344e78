"""The one way to publish: a transactional outbox.

:func:`publish` writes the messages into the outbox table in the caller's transaction (one multi-row INSERT per
call), so they exist exactly when the change that decided them does: a rolled-back transaction sends nothing, a
committed one can no longer lose its messages. Right after the commit the same process claims its rows, publishes
them through the confirmed transport (:mod:`tts_common.messaging.publisher`) and deletes them in one short transaction that
commits only once the broker has confirmed them. Rows left behind (the process died between its commit and the
confirm, or the broker refused them) are published by :func:`relay`, a beat job, once they are older than
:data:`RELAY_MIN_AGE_SECONDS`. Claims use ``FOR UPDATE SKIP LOCKED``, so no two publishers send one row; a process
killed after the broker's confirm but before its delete leaves a row that is sent again, with the same id:
consumers deduplicate on it (or on a natural key of their own).

Messages with an ordering key (a ticket's status messages) leave in commit order: they are written under the lock
of what they are about (so positions follow commits), and published only by a holder of the key's advisory lock,
who sends every row of the key still waiting, oldest first.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from kombu.utils import json

from tts_common import contracts
from tts_common.base.database import binding_cursor
from tts_common.base.logging import correlation_id
from tts_common.messaging.publisher import Envelope, publish_batch
from tts_common.models import OutboxMessage

logger = logging.getLogger(__name__)

# The normal path publishes within milliseconds of the commit; the relay leaves younger rows to it.
RELAY_MIN_AGE_SECONDS = 5.0
RELAY_BATCH_SIZE = 500
# Advisory locks of ordering keys live in a namespace of their own (pg_advisory_xact_lock's two-int form).
_LOCK_NAMESPACE = 0x7470_0B01

_TABLE = OutboxMessage._meta.db_table
_INSERT_SQL = f"""
INSERT INTO {_TABLE} (id, task, queue, body, correlation_id, ordering_key)
SELECT * FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[])
"""
# Rows locked by another publisher are skipped: they are that publisher's to send.
_CLAIM_SQL = f"""
DELETE FROM {_TABLE} WHERE id IN (SELECT id FROM {_TABLE} WHERE {{where}} FOR UPDATE SKIP LOCKED)
RETURNING id, task, queue, body, correlation_id, position
"""
_CLAIM_IDS_SQL = f"""
DELETE FROM {_TABLE} WHERE id IN (SELECT id FROM {_TABLE} WHERE id = ANY(%s::uuid[]) FOR UPDATE SKIP LOCKED)
RETURNING id
"""
# Protocol 2's third body element: no callbacks, errbacks, chain or chord.
_EMBED = '{"callbacks": null, "errbacks": null, "chain": null, "chord": null}'


@dataclass(frozen=True, slots=True)
class Message:
    """A task message to publish: its route, keyword and positional arguments, an optional ordering key (messages
    sharing one leave in commit order) and its id (the Celery task id consumers deduplicate on; a new one by
    default, or one the caller also put in the payload)."""

    route: contracts.Route
    kwargs: dict[str, Any] = field(default_factory=dict)
    args: tuple[Any, ...] = ()
    ordering_key: str | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)


def publish(messages: Sequence[Message]) -> None:
    """Write ``messages`` to the outbox in the current transaction and publish them once it commits (at once
    outside a transaction); nothing is sent on rollback. They carry the caller's correlation id, taken now."""
    if not messages:
        return
    correlation = correlation_id.get() or None
    envelopes = {
        message.id: Envelope(str(message.id), message.route.task, message.route.queue, _body(message), correlation)
        for message in messages
    }
    with binding_cursor() as cursor:  # the bodies in binary: a batch's thousands of messages quoted in Python took 0.1 s
        cursor.execute(
            _INSERT_SQL,
            [
                list(envelopes),
                [envelope.task for envelope in envelopes.values()],
                [envelope.queue for envelope in envelopes.values()],
                [envelope.body for envelope in envelopes.values()],
                [correlation or ""] * len(envelopes),
                [message.ordering_key for message in messages],
            ],
        )
    keys = sorted({message.ordering_key for message in messages if message.ordering_key})
    transaction.on_commit(lambda: _publish_committed(envelopes, keys), robust=True)


def publish_one(route: contracts.Route, *, args: tuple[Any, ...] = (), ordering_key: str | None = None, **kwargs: Any) -> None:
    """:func:`publish` of one message."""
    publish([Message(route, kwargs, args, ordering_key)])


def _body(message: Message) -> str:
    # Celery's own JSON (kombu's), so that consumers decode what a send_task would have sent.
    return f"[{json.dumps(list(message.args))}, {json.dumps(message.kwargs)}, {_EMBED}]"


def _publish_committed(envelopes: dict[uuid.UUID, Envelope], keys: list[str]) -> None:
    """Claim this transaction's rows (with every row still waiting under its ordering keys), publish, delete."""
    ids = list(envelopes)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if keys:  # in one order everywhere, so that two publishers never wait on each other in a circle
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(%s, hashtext(k)) FROM (SELECT unnest(%s::text[]) AS k ORDER BY k) s",
                    [_LOCK_NAMESPACE, keys],
                )
                # Every row still waiting under these keys (a dead publisher's too) goes now, before ours.
                cursor.execute(_CLAIM_SQL.format(where="id = ANY(%s::uuid[]) OR ordering_key = ANY(%s::text[])"), [ids, keys])
                _send(cursor.fetchall())
            else:  # intake's case: its own rows, by primary key, sent from memory (a skipped one is another's)
                cursor.execute(_CLAIM_IDS_SQL, [ids])
                claimed = {row_id for (row_id,) in cursor.fetchall()}
                publish_batch([envelope for row_id, envelope in envelopes.items() if row_id in claimed])
    except Exception:  # the rows stay (rolled back) for the relay
        logger.warning("outbox publish after commit failed; left to the relay", exc_info=True, extra={"count": len(ids)})


def relay(min_age_seconds: float = RELAY_MIN_AGE_SECONDS, batch_size: int = RELAY_BATCH_SIZE) -> int:
    """Publish the rows older than ``min_age_seconds`` that no one else is publishing, oldest first, a batch per
    transaction; returns how many were published. Raises if the broker refuses them (they stay for the next run)."""
    sent = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, ordering_key FROM {_TABLE} WHERE created_at < now() - make_interval(secs => %s) "
                "ORDER BY position LIMIT %s",
                [min_age_seconds, batch_size],
            )
            candidates = cursor.fetchall()
            keys = sorted({key for _, key in candidates if key})
            if keys:  # a key another publisher holds is its to send (all of its rows, in order)
                cursor.execute(
                    "SELECT k FROM unnest(%s::text[]) AS k WHERE pg_try_advisory_xact_lock(%s, hashtext(k))",
                    [keys, _LOCK_NAMESPACE],
                )
                keys = [key for (key,) in cursor.fetchall()]
            cursor.execute(
                _CLAIM_SQL.format(where="id = ANY(%s::uuid[]) AND (ordering_key IS NULL OR ordering_key = ANY(%s::text[]))"),
                [[row_id for row_id, _ in candidates], keys],
            )
            claimed = cursor.fetchall()
            _send(claimed)
        sent += len(claimed)
        if claimed:
            logger.info("outbox rows relayed", extra={"operation": "outbox.relay", "count": len(claimed)})
        if not claimed or len(candidates) < batch_size:
            return sent


def _send(rows: Iterable[tuple[Any, ...]]) -> None:
    """Publish claimed rows ``(id, task, queue, body, correlation_id, position)`` in position order."""
    publish_batch(
        [
            Envelope(str(row_id), task, queue, body, correlation or None)
            for row_id, task, queue, body, correlation, _ in sorted(rows, key=lambda row: row[5])
        ]
    )


def backlog() -> tuple[int, float | None]:
    """(rows waiting, the oldest one's age in seconds or ``None``), for ``/metrics``."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*), EXTRACT(EPOCH FROM now() - min(created_at)) FROM {_TABLE}")
        count, age = cursor.fetchone()
    return count, None if age is None else float(age)
