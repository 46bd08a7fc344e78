"""Writes of the notification service: storing notifications, read state, preferences, email delivery."""
from __future__ import annotations

import hashlib
import json
import logging
import random
import smtplib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from tts_common import contracts, publisher, text
from tts_common.auth_client import AuthServiceClient, AuthServiceUnavailable, UserInfo, UserNotFound
from tts_common.messages import NOTIFICATION_TYPES

from . import conf, realtime, selectors
from .models import EmailDelivery, InAppNotification, NotificationPreference, RejectedMessage

logger = logging.getLogger(__name__)

auth_client = AuthServiceClient(service="notification")


# --- In-app notifications -------------------------------------------------------------------------------------
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
    :class:`EmailDelivery`; after commit the new notifications are pushed to the users' open pages and their emails
    are queued. Email is therefore never on the storage path: an SMTP outage cannot lose or delay a notification.

    On PostgreSQL one statement stores the batch: INSERT ... ON CONFLICT (dedup_key) DO NOTHING (a key stored
    before, or concurrently by another worker, is skipped rather than failing the batch), with the email
    deliveries of the rows actually inserted chosen in SQL from the users' preferences.
    """
    by_key = {draft.dedup_key: draft for draft in drafts}
    if connection.vendor != "postgresql":
        return _create_notifications_orm(by_key)
    now = timezone.now()
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
                    "now": now,
                    "default_email_types": list(conf.DEFAULT_EMAIL_TYPES),
                },
            )
            rows = cursor.fetchall()  # (id, dedup_key, delivery id or None) of the rows inserted
            email_ids = [delivery_id for _, _, delivery_id in rows if delivery_id is not None]
            if len(rows) < len(by_key):
                # A redelivered message whose first run committed but may have failed to queue its email.
                inserted = {key for _, key, _ in rows}
                cursor.execute(
                    f"""SELECT d.id FROM {EmailDelivery._meta.db_table} d
                        JOIN {InAppNotification._meta.db_table} n ON n.id = d.notification_id
                        WHERE n.dedup_key = ANY(%s) AND d.status = %s AND d.attempts = 0 ORDER BY d.id""",
                    [[key for key in by_key if key not in inserted], EmailDelivery.Status.PENDING],
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
        # Pushing is best effort (a page refetches on reconnect); queueing email must succeed or the batch retries.
        transaction.on_commit(lambda: realtime.push_notifications(created), robust=True)
        if email_ids:
            transaction.on_commit(lambda: enqueue_email_deliveries(delivery_ids=email_ids))
    return created


def _insert_notifications_sql() -> str:
    notification, delivery, preference = (
        model._meta.db_table for model in (InAppNotification, EmailDelivery, NotificationPreference)
    )
    return f"""
WITH i AS MATERIALIZED (
    SELECT * FROM unnest(%(user_id)s::bigint[], %(type)s::text[], %(subject)s::text[], %(message)s::text[],
                         %(task)s::text[], %(ticket)s::text[], %(metadata)s::jsonb[], %(key)s::text[])
             WITH ORDINALITY AS i(user_id, type, subject, message, task, ticket, metadata, key, position)
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
    INSERT INTO {delivery} (notification_id, user_id, to_email, status, attempts, last_error, claim_token,
                            claimed_at, sent_at, created_at, updated_at)
    SELECT n.id, n.user_id, '', '{EmailDelivery.Status.PENDING}', 0, '', '', NULL, NULL, %(now)s, %(now)s
    FROM n LEFT JOIN {preference} p ON p.user_id = n.user_id
    WHERE CASE WHEN p.id IS NULL THEN n.notification_type = ANY(%(default_email_types)s::text[])
               ELSE p.email_types @> jsonb_build_array(n.notification_type) END
    ORDER BY n.id
    RETURNING id, notification_id
)
SELECT n.id, n.dedup_key, d.id FROM n LEFT JOIN d ON d.notification_id = n.id ORDER BY n.id"""


_INSERT_NOTIFICATIONS_SQL = _insert_notifications_sql()


def _create_notifications_orm(by_key: dict[str, NotificationDraft]) -> list[InAppNotification]:
    """:func:`create_notifications` through the ORM, for the embedded SQLite profile. A concurrent insert of the
    same key fails the whole batch (IntegrityError), which the batch consumer then retries message by message; on
    that retry the key already exists and the message is a no-op."""
    with transaction.atomic():
        existing = set(InAppNotification.objects.filter(dedup_key__in=by_key).values_list("dedup_key", flat=True))
        created = InAppNotification.objects.bulk_create(
            [
                InAppNotification(
                    user_id=draft.user_id,
                    notification_type=draft.notification_type,
                    subject=draft.subject,
                    message=draft.message,
                    related_task_id=draft.related_task_id,
                    related_ticket_id=draft.related_ticket_id,
                    metadata=draft.metadata,
                    dedup_key=key,
                )
                for key, draft in by_key.items()
                if key not in existing
            ]
        )
        email_types = selectors.email_types_by_user(user_ids={n.user_id for n in created})
        deliveries = EmailDelivery.objects.bulk_create(
            [
                EmailDelivery(notification=n, user_id=n.user_id)
                for n in created
                if n.notification_type in email_types[n.user_id]
            ]
        )
        email_ids = [d.id for d in deliveries]
        if existing:
            # A redelivered message whose first run committed but may have failed to queue its email.
            email_ids += EmailDelivery.objects.filter(
                notification__dedup_key__in=existing, status=EmailDelivery.Status.PENDING, attempts=0
            ).values_list("id", flat=True)
        # Pushing is best effort (a page refetches on reconnect); queueing email must succeed or the batch retries.
        transaction.on_commit(lambda: realtime.push_notifications(created), robust=True)
        transaction.on_commit(lambda: enqueue_email_deliveries(delivery_ids=email_ids))
    return created


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


# --- Preferences ----------------------------------------------------------------------------------------------
def set_email_types(*, user_id: int, email_types: Sequence[str]) -> list[str]:
    """Replace the types the user receives by email; returns them in canonical order."""
    chosen = set(email_types)
    ordered = [t for t in NOTIFICATION_TYPES if t in chosen]
    NotificationPreference.objects.update_or_create(user_id=user_id, defaults={"email_types": ordered})
    return ordered


# --- Email delivery -------------------------------------------------------------------------------------------
class DeliveryNotRetryable(Exception):
    """Only a failed delivery can be retried by hand; the others are in progress, done or skipped."""


@dataclass(frozen=True)
class EmailRetry:
    delivery_ids: list[int]
    countdown: float


@dataclass(frozen=True)
class _Outcome:
    status: str
    error: str = ""
    to_email: str = ""


def enqueue_email_deliveries(*, delivery_ids: Sequence[int]) -> None:
    """Queue deliveries in chunks: a few messages per stored batch, each sent over one SMTP connection."""
    # One batch publish (one write, one confirm wait): a confirm per chunk cost ~6 ms each, most of a stored batch.
    publisher.publish_batch(
        [
            publisher.Outgoing(contracts.NOTIFICATION_EMAIL, {"delivery_ids": list(delivery_ids[start : start + conf.EMAIL_CHUNK_SIZE])})
            for start in range(0, len(delivery_ids), conf.EMAIL_CHUNK_SIZE)
        ]
    )


def retry_delivery(*, delivery: EmailDelivery) -> EmailDelivery:
    """Give a failed delivery a fresh round of attempts (an admin's action)."""
    with transaction.atomic():
        reset = EmailDelivery.objects.filter(id=delivery.id, status=EmailDelivery.Status.FAILED).update(
            status=EmailDelivery.Status.PENDING, attempts=0, updated_at=timezone.now()
        )
        if not reset:
            raise DeliveryNotRetryable(f"Only failed deliveries can be retried; this one is {delivery.status}.")
        transaction.on_commit(lambda: enqueue_email_deliveries(delivery_ids=[delivery.id]))
    delivery.refresh_from_db()
    return delivery


def email_retry_delay(attempts: int) -> float:
    """base * 2^n s before retry n (n = attempts made so far), with jitter so failed chunks do not stampede."""
    delay = conf.email_retry_base_seconds() * 2.0**attempts
    return random.uniform(delay / 2, delay)


def deliver_emails(*, delivery_ids: Sequence[int], reclaim: bool = False) -> EmailRetry | None:
    """One attempt at each delivery this call can claim; returns the deliveries to retry and when.

    ``reclaim`` (the message was redelivered: its first holder died) also takes deliveries left mid-send.
    """
    deliveries = _claim(delivery_ids, reclaim=reclaim)
    if not deliveries:
        return None
    outcomes = _attempt(deliveries)
    now = timezone.now()
    for delivery in deliveries:
        outcome = outcomes[delivery.id]
        delivery.to_email = outcome.to_email or delivery.to_email
        delivery.status = outcome.status
        if outcome.error:
            delivery.last_error = outcome.error
        if outcome.status == EmailDelivery.Status.PENDING and delivery.attempts >= conf.EMAIL_MAX_ATTEMPTS:
            delivery.status = EmailDelivery.Status.FAILED
        if outcome.status == EmailDelivery.Status.SENT:
            delivery.sent_at = now
        delivery.claim_token = ""
        delivery.updated_at = now
    EmailDelivery.objects.bulk_update(
        deliveries, ["to_email", "status", "last_error", "sent_at", "claim_token", "updated_at"]
    )
    statuses = [d.status for d in deliveries]
    logger.info(
        "email attempt",
        extra={"operation": "deliver_emails", **{s: statuses.count(s) for s in set(statuses)}},
    )
    retry = [d for d in deliveries if d.status == EmailDelivery.Status.PENDING]
    if not retry:
        return None
    return EmailRetry([d.id for d in retry], email_retry_delay(max(d.attempts for d in retry)))


def _claim(delivery_ids: Sequence[int], reclaim: bool) -> list[EmailDelivery]:
    now = timezone.now()
    token = uuid.uuid4().hex
    stale = now - timedelta(seconds=conf.EMAIL_CLAIM_LEASE_SECONDS)
    claimable = Q(status=EmailDelivery.Status.PENDING) | Q(status=EmailDelivery.Status.SENDING, claimed_at__lt=stale)
    if reclaim:
        claimable |= Q(status=EmailDelivery.Status.SENDING)
    EmailDelivery.objects.filter(claimable, id__in=delivery_ids).update(
        status=EmailDelivery.Status.SENDING, claim_token=token, claimed_at=now, attempts=F("attempts") + 1,
        updated_at=now,
    )  # fmt: skip
    return list(EmailDelivery.objects.filter(claim_token=token).select_related("notification"))


def _attempt(deliveries: Sequence[EmailDelivery]) -> dict[int, _Outcome]:
    outcomes: dict[int, _Outcome] = {}
    users: dict[int, UserInfo | Exception] = {}
    to_send: list[tuple[EmailDelivery, EmailMessage]] = []
    for delivery in deliveries:
        if delivery.user_id not in users:
            try:
                users[delivery.user_id] = auth_client.get_user(delivery.user_id)
            except (UserNotFound, AuthServiceUnavailable) as exc:
                users[delivery.user_id] = exc
        user = users[delivery.user_id]
        if isinstance(user, UserNotFound):
            outcomes[delivery.id] = _Outcome(EmailDelivery.Status.FAILED, str(user))
        elif isinstance(user, Exception):
            outcomes[delivery.id] = _Outcome(EmailDelivery.Status.PENDING, f"auth service: {user}")
        elif not user.is_active:
            outcomes[delivery.id] = _Outcome(EmailDelivery.Status.SKIPPED, "user is inactive")
        elif not user.email:
            outcomes[delivery.id] = _Outcome(EmailDelivery.Status.FAILED, "user has no email address")
        else:
            to_send.append((delivery, _email_message(delivery.notification, user.email)))
    if to_send:
        outcomes.update(_send(to_send))
    return outcomes


def _email_message(notification: InAppNotification, to_email: str) -> EmailMessage:
    lines = [notification.message]
    if notification.related_task_id:
        lines.append(f"Task: {notification.related_task_id}")
    if notification.related_ticket_id:
        lines.append(f"Ticket: {notification.related_ticket_id}")
    return EmailMessage(
        subject=" ".join(notification.subject.split()),  # a header: no line breaks
        body="\n\n".join(lines),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to_email],
        headers={"X-TTS-Notification-Id": str(notification.id), "X-TTS-Notification-Type": notification.notification_type},
    )


def _send(to_send: Sequence[tuple[EmailDelivery, EmailMessage]]) -> dict[int, _Outcome]:
    """Send over one connection; an error is permanent if the server refused for good (5xx), else retried."""
    connection = get_connection(fail_silently=False)
    try:
        connection.open()
    except Exception as exc:
        return {d.id: _Outcome(EmailDelivery.Status.PENDING, _describe(exc), m.to[0]) for d, m in to_send}
    outcomes: dict[int, _Outcome] = {}
    try:
        for index, (delivery, message) in enumerate(to_send):
            try:
                connection.send_messages([message])
                outcomes[delivery.id] = _Outcome(EmailDelivery.Status.SENT, to_email=message.to[0])
            except SoftTimeLimitExceeded:
                # Out of time: this and the unsent rest are retried rather than left claimed.
                for unsent, unsent_message in to_send[index:]:
                    outcomes[unsent.id] = _Outcome(EmailDelivery.Status.PENDING, "time limit", unsent_message.to[0])
                break
            except Exception as exc:
                status = EmailDelivery.Status.FAILED if _is_permanent(exc) else EmailDelivery.Status.PENDING
                outcomes[delivery.id] = _Outcome(status, _describe(exc), message.to[0])
    finally:
        try:
            connection.close()
        except Exception:  # the messages are already accepted or recorded; a failing QUIT changes nothing
            logger.warning("closing the SMTP connection failed", exc_info=True, extra={"operation": "deliver_emails"})
    return outcomes


def _is_permanent(exc: Exception) -> bool:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return False


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]
