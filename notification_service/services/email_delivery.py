"""Email delivery: queueing, claiming and sending deliveries over SMTP, retries, the sweep of stalled ones,
scheduled emails and daily digests."""
from __future__ import annotations

import logging
import random
import smtplib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone

from tts_common import contracts
from tts_common.base.errors import Conflict
from tts_common.http.auth_client import AuthServiceClient, AuthServiceUnavailable, UserInfo, UserNotFound
from tts_common.messaging import outbox

from .. import conf, selectors
from ..models import Digest, EmailDelivery, EmailMode, InAppNotification

logger = logging.getLogger(__name__)

auth_client = AuthServiceClient(service="notification")

class DeliveryNotRetryable(Conflict):
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
    """Queue deliveries in chunks: a few messages per stored batch, each sent over one SMTP connection; they leave
    with the caller's transaction (outbox), so a delivery is never committed without its message."""
    # One batch publish (one write, one confirm wait): a confirm per chunk cost ~6 ms each, most of a stored batch.
    outbox.publish(
        [
            outbox.Message(contracts.NOTIFICATION_EMAIL, {"delivery_ids": list(delivery_ids[start : start + conf.EMAIL_CHUNK_SIZE])})
            for start in range(0, len(delivery_ids), conf.EMAIL_CHUNK_SIZE)
        ]
    )


# Deliveries sent one by one: a digest-mode one goes out in its digest, a scheduled one once the due job released it.
_SENT_ALONE = ~Q(mode=EmailMode.DIGEST) & Q(not_before__isnull=True)


def requeue_stalled_deliveries(*, limit: int = 1000) -> int:
    """Queue again the deliveries that no message is on its way for: pending ones untouched past
    :func:`conf.email_stalled_after_seconds`, and claims past their lease whose worker died and whose message was
    lost. A duplicate message is harmless: only one worker can claim a delivery (:func:`_claim`). Scheduled and
    digest-mode deliveries have no message on its way by design: they are left to their own jobs."""
    now = timezone.now()
    stalled = (
        Q(status=EmailDelivery.Status.PENDING, updated_at__lt=now - timedelta(seconds=conf.email_stalled_after_seconds()))
        & _SENT_ALONE
    ) | Q(status=EmailDelivery.Status.SENDING, claimed_at__lt=now - timedelta(seconds=conf.EMAIL_CLAIM_LEASE_SECONDS))
    ids = list(EmailDelivery.objects.filter(stalled).order_by("id").values_list("id", flat=True)[:limit])
    if not ids:
        return 0
    # Touched, so the next sweep waits a whole stall period for this message before sending another.
    with transaction.atomic():
        EmailDelivery.objects.filter(id__in=ids).update(updated_at=now)
        enqueue_email_deliveries(delivery_ids=ids)
    logger.info("stalled email deliveries queued again", extra={"operation": "requeue_stalled", "count": len(ids)})
    return len(ids)


def release_due_deliveries(*, now: datetime | None = None, limit: int = conf.DUE_BATCH_SIZE) -> int:
    """Queue the scheduled deliveries now due (unread delays, ends of quiet hours); returns how many were due.

    An ``if_unread`` delivery whose notification was read by then is skipped instead (and checked again when it is
    sent). The due rows stay locked until their ``not_before`` is cleared (FOR UPDATE SKIP LOCKED), so overlapping
    ticks on several workers release each once; a duplicate message would still be harmless (:func:`_claim`).
    """
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            EmailDelivery.objects.select_for_update(skip_locked=True)
            .filter(status=EmailDelivery.Status.PENDING, not_before__lte=now)
            .order_by("not_before", "id")
            .values_list("id", flat=True)[:limit]
        )
        if not due:
            return 0
        read = set(
            EmailDelivery.objects.filter(
                id__in=due, mode=EmailMode.IF_UNREAD, notification__is_read=True
            ).values_list("id", flat=True)
        )
        EmailDelivery.objects.filter(id__in=read).update(
            status=EmailDelivery.Status.SKIPPED, last_error=_READ_BEFORE_DUE, not_before=None, updated_at=now
        )
        to_queue = [delivery_id for delivery_id in due if delivery_id not in read]
        EmailDelivery.objects.filter(id__in=to_queue).update(not_before=None, updated_at=now)
        if to_queue:
            enqueue_email_deliveries(delivery_ids=to_queue)
    logger.info(
        "scheduled email deliveries due",
        extra={"operation": "release_due", "queued": len(to_queue), "skipped": len(read)},
    )
    return len(due)


def send_due_digests(*, now: datetime | None = None, limit: int = conf.DIGEST_BATCH_SIZE) -> int:
    """Send the daily digests now due; returns how many this call claimed.

    A user's digest is due in the local hour they chose while digest-mode notifications wait for one. Its row is
    unique per (user, local date), so overlapping ticks create it once, and only the worker that claims it lists
    the waiting notifications, so each is in one digest; one that arrives later waits for the next day. Notifications
    read by then are left out, and a digest left with none sends nothing. A transient failure leaves the digest
    pending for the next tick, up to ``conf.EMAIL_MAX_ATTEMPTS`` attempts.
    """
    now = now or timezone.now()
    _create_due_digests(now)
    token = uuid.uuid4().hex
    stale = now - timedelta(seconds=conf.EMAIL_CLAIM_LEASE_SECONDS)
    claimable = Q(status=Digest.Status.PENDING) | Q(status=Digest.Status.SENDING, claimed_at__lt=stale)
    candidates = list(Digest.objects.filter(claimable).order_by("id").values_list("id", flat=True)[:limit])
    Digest.objects.filter(claimable, id__in=candidates).update(
        status=Digest.Status.SENDING, claim_token=token, claimed_at=now, attempts=F("attempts") + 1, updated_at=now
    )
    digests = list(Digest.objects.filter(claim_token=token))
    if not digests:
        return 0
    waiting = EmailDelivery.objects.filter(status=EmailDelivery.Status.PENDING, mode=EmailMode.DIGEST)
    waiting.filter(digest__isnull=True, user_id__in={d.user_id for d in digests}).update(
        digest=Subquery(Digest.objects.filter(claim_token=token, user_id=OuterRef("user_id")).values("id")[:1]),
        updated_at=now,
    )
    ours = waiting.filter(digest__in=digests)
    ours.filter(notification__is_read=True).update(
        status=EmailDelivery.Status.SKIPPED, last_error="read before the digest", updated_at=now
    )
    listed: dict[int, list[InAppNotification]] = {d.id: [] for d in digests}
    for delivery in ours.select_related("notification").order_by("notification__created_at", "id"):
        if delivery.digest_id is not None:  # always (``ours`` are the digests' deliveries)
            listed[delivery.digest_id].append(delivery.notification)
    outcomes = _attempt_digests(digests, listed)
    for digest in digests:
        outcome = outcomes[digest.id]
        digest.status = outcome.status
        if outcome.status == Digest.Status.PENDING and digest.attempts >= conf.EMAIL_MAX_ATTEMPTS:
            digest.status = Digest.Status.FAILED
        digest.to_email = outcome.to_email or digest.to_email
        digest.last_error = outcome.error or digest.last_error
        digest.sent_at = now if digest.status == Digest.Status.SENT else None
        digest.claim_token = ""
        digest.updated_at = now
    Digest.objects.bulk_update(digests, ["status", "to_email", "last_error", "sent_at", "claim_token", "updated_at"])
    # The listed deliveries share the outcome of a digest that is done; a pending digest keeps them for its retry.
    ours.filter(digest__in=[d for d in digests if d.status == Digest.Status.SENT]).update(
        status=EmailDelivery.Status.SENT, sent_at=now, updated_at=now
    )
    for digest in digests:
        if digest.status in (Digest.Status.FAILED, Digest.Status.SKIPPED):  # rare: one update each, with its reason
            ours.filter(digest=digest).update(status=digest.status, last_error=digest.last_error, updated_at=now)
    statuses = [d.status for d in digests]
    logger.info("digests", extra={"operation": "send_digests", **{s: statuses.count(s) for s in set(statuses)}})
    return len(digests)


def _create_due_digests(now: datetime) -> None:
    """A digest row for each user in their digest hour with digest-mode notifications waiting (once per day)."""
    waiting_users = (
        EmailDelivery.objects.filter(status=EmailDelivery.Status.PENDING, mode=EmailMode.DIGEST, digest__isnull=True)
        .values_list("user_id", flat=True)
        .distinct()
    )
    due = [
        Digest(user_id=preference.user_id, local_date=preference.local(now).date())
        for preference in selectors.preferences_by_user(user_ids=waiting_users).values()
        if preference.local(now).hour == preference.digest_hour
    ]
    Digest.objects.bulk_create(due, ignore_conflicts=True)


def _attempt_digests(digests: Sequence[Digest], listed: dict[int, list[InAppNotification]]) -> dict[int, _Outcome]:
    outcomes: dict[int, _Outcome] = {}
    recipients = _Recipients()
    to_send: list[tuple[int, EmailMessage]] = []
    for digest in digests:
        recipient = recipients.email_of(digest.user_id) if listed[digest.id] else _Outcome(Digest.Status.EMPTY)
        if isinstance(recipient, _Outcome):
            outcomes[digest.id] = recipient
        else:
            to_send.append((digest.id, _digest_message(digest, listed[digest.id], recipient)))
    if to_send:
        outcomes.update(_send(to_send))
    return outcomes


def retry_delivery(*, delivery: EmailDelivery) -> EmailDelivery:
    """Give a failed delivery a fresh round of attempts (an admin's action); a digest-mode one joins the next
    digest."""
    with transaction.atomic():
        reset = EmailDelivery.objects.filter(id=delivery.id, status=EmailDelivery.Status.FAILED).update(
            status=EmailDelivery.Status.PENDING, attempts=0, not_before=None, digest=None, updated_at=timezone.now()
        )
        if not reset:
            raise DeliveryNotRetryable(f"Only failed deliveries can be retried; this one is {delivery.status}.")
        if delivery.mode != EmailMode.DIGEST:
            enqueue_email_deliveries(delivery_ids=[delivery.id])
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
    EmailDelivery.objects.filter(claimable, _SENT_ALONE, id__in=delivery_ids).update(
        status=EmailDelivery.Status.SENDING, claim_token=token, claimed_at=now, attempts=F("attempts") + 1,
        updated_at=now,
    )  # fmt: skip
    return list(EmailDelivery.objects.filter(claim_token=token).select_related("notification"))


def _attempt(deliveries: Sequence[EmailDelivery]) -> dict[int, _Outcome]:
    outcomes: dict[int, _Outcome] = {}
    recipients = _Recipients()
    to_send: list[tuple[int, EmailMessage]] = []
    for delivery in deliveries:
        if delivery.mode == EmailMode.IF_UNREAD and delivery.notification.is_read:
            # Checked again under the claim: it may have been read since the due job released it.
            outcomes[delivery.id] = _Outcome(EmailDelivery.Status.SKIPPED, _READ_BEFORE_DUE)
            continue
        recipient = recipients.email_of(delivery.user_id)
        if isinstance(recipient, _Outcome):
            outcomes[delivery.id] = recipient
        else:
            to_send.append((delivery.id, _email_message(delivery.notification, recipient)))
    if to_send:
        outcomes.update(_send(to_send))
    return outcomes


_READ_BEFORE_DUE = "read before the email was due"


class _Recipients:
    """Email addresses from the auth service, each user looked up once per attempt."""

    def __init__(self) -> None:
        self._users: dict[int, UserInfo | Exception] = {}

    def email_of(self, user_id: int) -> str | _Outcome:
        """The user's address, or the outcome of a delivery that cannot be sent to them now."""
        if user_id not in self._users:
            try:
                self._users[user_id] = auth_client.get_user(user_id)
            except (UserNotFound, AuthServiceUnavailable) as exc:
                self._users[user_id] = exc
        user = self._users[user_id]
        if isinstance(user, UserNotFound):
            return _Outcome(EmailDelivery.Status.FAILED, str(user))
        if isinstance(user, Exception):
            return _Outcome(EmailDelivery.Status.PENDING, f"auth service: {user}")
        if not user.is_active:
            return _Outcome(EmailDelivery.Status.SKIPPED, "user is inactive")
        if not user.email:
            return _Outcome(EmailDelivery.Status.FAILED, "user has no email address")
        return user.email


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


def _digest_message(digest: Digest, notifications: Sequence[InAppNotification], to_email: str) -> EmailMessage:
    count = len(notifications)
    entries = []
    for notification in notifications:
        lines = [f"* {' '.join(notification.subject.split())}"]
        lines += [f"  {line}" for line in notification.message.splitlines() if line.strip()]
        if notification.related_task_id:
            lines.append(f"  Task: {notification.related_task_id}")
        if notification.related_ticket_id:
            lines.append(f"  Ticket: {notification.related_ticket_id}")
        entries.append("\n".join(lines))
    return EmailMessage(
        subject=f"TTS digest for {digest.local_date.isoformat()}: {count} unread notification{'s' if count != 1 else ''}",
        body="\n\n".join(entries),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to_email],
        headers={"X-TTS-Digest-Id": str(digest.id)},
    )


def _send(to_send: Sequence[tuple[int, EmailMessage]]) -> dict[int, _Outcome]:
    """Send (id, message) pairs over one connection; an error is permanent if the server refused for good (5xx),
    else retried. Outcomes by id."""
    connection = get_connection(fail_silently=False)
    try:
        connection.open()
    except Exception as exc:
        return {key: _Outcome(EmailDelivery.Status.PENDING, _describe(exc), m.to[0]) for key, m in to_send}
    outcomes: dict[int, _Outcome] = {}
    try:
        for index, (key, message) in enumerate(to_send):
            try:
                connection.send_messages([message])
                outcomes[key] = _Outcome(EmailDelivery.Status.SENT, to_email=message.to[0])
            except SoftTimeLimitExceeded:
                # Out of time: this and the unsent rest are retried rather than left claimed.
                for unsent, unsent_message in to_send[index:]:
                    outcomes[unsent] = _Outcome(EmailDelivery.Status.PENDING, "time limit", unsent_message.to[0])
                break
            except Exception as exc:
                status = EmailDelivery.Status.FAILED if _is_permanent(exc) else EmailDelivery.Status.PENDING
                outcomes[key] = _Outcome(status, _describe(exc), message.to[0])
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
