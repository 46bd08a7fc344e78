"""In-app notifications: storing a batch at most once each (with the email each one gets), read state, and
messages the consumer had to reject."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from tts_common.base import text

from .. import realtime, selectors
from ..models import EmailDelivery, EmailMode, InAppNotification, RejectedMessage
from .email_delivery import enqueue_email_deliveries
from .preferences import email_plan


@dataclass(frozen=True)
class NotificationDraft:
    """A validated notification to store (built from a queue message by :mod:`notification_service.decoders`)."""

    user_id: int
    notification_type: str
    subject: str
    message: str
    related_task_id: str | None = None
    related_ticket_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    #: a producer's own idempotency key; without one the content is the key.
    producer_key: str | None = None

    @property
    def dedup_key(self) -> str:
        """Equal for every redelivery or retry of one message (a Celery message id is not: retries get new ids).

        Without a producer key, two notifications with identical content (user, type, related ids, subject, message
        and metadata) are taken to be the same one; a producer that means to repeat one sends a ``dedup_key``.
        """
        if self.producer_key:
            parts: list[Any] = ["key", self.user_id, self.notification_type, self.producer_key]
        else:
            parts = [
                "content", self.user_id, self.notification_type, self.related_task_id, self.related_ticket_id,
                self.subject, self.message, self.metadata,
            ]  # fmt: skip
        canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()



def create_notifications(*, drafts: Sequence[NotificationDraft]) -> list[InAppNotification]:
    """Store a batch of notifications set-wise, at most once each; returns the newly stored ones.

    In the same transaction each new notification whose type the user receives by email gets a pending
    :class:`EmailDelivery` planned from their preferences (:func:`email_plan`); after commit the new notifications
    are pushed to the users' open pages and the emails due now are queued (scheduled ones wait for the due job,
    digest ones for the digest). Email is therefore never on the storage path: an SMTP outage cannot lose or delay
    a notification.

    One statement stores the batch: INSERT ... ON CONFLICT (dedup_key) DO NOTHING (a key stored
    before, or concurrently by another worker, is skipped rather than failing the batch), with the email
    deliveries of the rows actually inserted.
    """
    by_key = {draft.dedup_key: draft for draft in drafts}
    now = timezone.now()
    preferences = selectors.preferences_by_user(user_ids={d.user_id for d in by_key.values()})
    plans = {key: email_plan(preferences[d.user_id], d.notification_type, now) for key, d in by_key.items()}
    drafts_in = list(by_key.values())
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                _INSERT_NOTIFICATIONS_SQL,
                {
                    "user_id": [d.user_id for d in drafts_in],
                    "type": [d.notification_type for d in drafts_in],
                    "subject": [d.subject for d in drafts_in],
                    "message": [d.message for d in drafts_in],
                    "task": [d.related_task_id for d in drafts_in],
                    "ticket": [d.related_ticket_id for d in drafts_in],
                    "metadata": [json.dumps(d.metadata) for d in drafts_in],
                    "key": list(by_key),
                    "email_mode": [plan.mode if plan else None for plan in plans.values()],  # in by_key's order
                    "not_before": [plan.not_before if plan else None for plan in plans.values()],
                    "now": now,
                },
            )
            rows = cursor.fetchall()  # (id, dedup_key, id of a delivery to queue now or None) of the rows inserted
            email_ids = [delivery_id for _, _, delivery_id in rows if delivery_id is not None]
            if len(rows) < len(by_key):
                # A redelivered message whose first run committed but may have failed to queue its email.
                inserted = {key for _, key, _ in rows}
                cursor.execute(
                    f"""SELECT d.id FROM {EmailDelivery._meta.db_table} d
                        JOIN {InAppNotification._meta.db_table} n ON n.id = d.notification_id
                        WHERE n.dedup_key = ANY(%s) AND d.status = %s AND d.attempts = 0
                          AND d.not_before IS NULL AND d.mode <> %s ORDER BY d.id""",
                    [[key for key in by_key if key not in inserted], EmailDelivery.Status.PENDING, EmailMode.DIGEST],
                )
                email_ids += [row[0] for row in cursor.fetchall()]
        created = [
            InAppNotification(
                id=notification_id,
                user_id=by_key[key].user_id,
                notification_type=by_key[key].notification_type,
                subject=by_key[key].subject,
                message=by_key[key].message,
                related_task_id=by_key[key].related_task_id,
                related_ticket_id=by_key[key].related_ticket_id,
                metadata=by_key[key].metadata,
                is_read=False,
                read_at=None,
                created_at=now,
                dedup_key=key,
            )
            for notification_id, key, _ in rows
        ]
        # Pushing is best effort (a page refetches on reconnect); the emails' messages leave with the batch (outbox).
        transaction.on_commit(lambda: realtime.push_notifications(created), robust=True)
        if email_ids:
            enqueue_email_deliveries(delivery_ids=email_ids)
    return created


def _insert_notifications_sql() -> str:
    notification, delivery = (model._meta.db_table for model in (InAppNotification, EmailDelivery))
    return f"""
WITH i AS MATERIALIZED (
    SELECT * FROM unnest(%(user_id)s::bigint[], %(type)s::text[], %(subject)s::text[], %(message)s::text[],
                         %(task)s::text[], %(ticket)s::text[], %(metadata)s::jsonb[], %(key)s::text[],
                         %(email_mode)s::text[], %(not_before)s::timestamptz[])
             WITH ORDINALITY AS i(user_id, type, subject, message, task, ticket, metadata, key, email_mode,
                                  not_before, position)
),
n AS (
    INSERT INTO {notification} (user_id, notification_type, subject, message, related_task_id, related_ticket_id,
                                metadata, is_read, read_at, created_at, dedup_key)
    SELECT user_id, type, subject, message, task, ticket, metadata, false, NULL, %(now)s, key FROM i
    ORDER BY position
    ON CONFLICT (dedup_key) DO NOTHING
    RETURNING id, user_id, notification_type, dedup_key
),
d AS (
    INSERT INTO {delivery} (notification_id, user_id, mode, not_before, digest_id, to_email, status, attempts,
                            last_error, claim_token, claimed_at, sent_at, created_at, updated_at)
    SELECT n.id, n.user_id, i.email_mode, i.not_before, NULL, '', '{EmailDelivery.Status.PENDING}', 0, '', '', NULL,
           NULL, %(now)s, %(now)s
    FROM n JOIN i ON i.key = n.dedup_key
    WHERE i.email_mode IS NOT NULL
    ORDER BY n.id
    RETURNING id, notification_id, mode, not_before
)
SELECT n.id, n.dedup_key, CASE WHEN d.mode <> '{EmailMode.DIGEST}' AND d.not_before IS NULL THEN d.id END
FROM n LEFT JOIN d ON d.notification_id = n.id ORDER BY n.id"""


_INSERT_NOTIFICATIONS_SQL = _insert_notifications_sql()


def mark_read(*, notification: InAppNotification) -> InAppNotification:
    if not notification.is_read:
        now = timezone.now()
        # Conditional, so that a concurrent mark keeps the first read time.
        InAppNotification.objects.filter(id=notification.id, is_read=False).update(is_read=True, read_at=now)
        notification.refresh_from_db(fields=["is_read", "read_at"])
    return notification


def mark_all_read(*, user_id: int) -> int:
    """Marks every unread notification of the user read; returns how many were unread."""
    return InAppNotification.objects.filter(user_id=user_id, is_read=False).update(
        is_read=True, read_at=timezone.now()
    )


def record_rejected_message(*, task_name: str, kwargs: dict[str, Any], reason: str, retries: int) -> RejectedMessage:
    # The only record of the message, so stored whatever it holds: text the database cannot store is replaced.
    return RejectedMessage.objects.create(
        task_name=text.storable(task_name), kwargs=text.storable(kwargs), reason=text.storable(reason), retries=retries
    )
