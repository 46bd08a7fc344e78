"""Notification service tables. Users live in the auth service: ``user_id`` is its id, never a foreign key."""
from __future__ import annotations

import functools
import zoneinfo
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from tts_common.contracts.messages import NOTIFICATION_TYPES

from . import conf

NOTIFICATION_TYPE_CHOICES = [(t, t.replace("_", " ").capitalize()) for t in NOTIFICATION_TYPES]


class InAppNotification(models.Model):
    user_id = models.BigIntegerField()
    notification_type = models.CharField(max_length=32, choices=NOTIFICATION_TYPE_CHOICES)
    subject = models.CharField(max_length=255)
    message = models.TextField(blank=True)
    related_task_id = models.CharField(max_length=100, null=True, blank=True)
    related_ticket_id = models.CharField(max_length=100, null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    is_read = models.BooleanField(default=False)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Messages arrive at least once: the same notification always yields the same key (see services.dedup_key).
    dedup_key = models.CharField(max_length=64, unique=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user_id", "-created_at", "-id"], name="notif_user_newest"),
            models.Index(fields=["user_id"], condition=Q(is_read=False), name="notif_user_unread"),
        ]

    def __str__(self) -> str:
        return f"{self.notification_type} → user {self.user_id}: {self.subject}"


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_time_zone(value: str) -> None:
    if value not in _time_zones():
        raise ValidationError(f'"{value}" is not an IANA time zone.')


class EmailMode(models.TextChoices):
    """How a notification type reaches a user by email; the in-app notification is stored whatever the mode."""

    OFF = "off"
    IMMEDIATE = "immediate"
    IF_UNREAD = "if_unread"  # only if the in-app notification is still unread after the user's delay
    DIGEST = "digest"  # listed in the user's daily digest instead of an email of its own


class NotificationPreference(models.Model):
    """How one user receives notifications by email; no row means the defaults of each field (and of ``conf``)."""

    user_id = models.BigIntegerField(unique=True)
    # notification type → EmailMode; a type missing here has its default (conf.DEFAULT_EMAIL_TYPES are immediate).
    email_modes = models.JSONField(default=dict)
    unread_delay_minutes = models.PositiveIntegerField(
        default=conf.DEFAULT_UNREAD_DELAY_MINUTES,
        validators=[MinValueValidator(1), MaxValueValidator(conf.MAX_UNREAD_DELAY_MINUTES)],
    )
    # IANA name: quiet hours and the digest hour are local to it.
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    # Emails due inside [start, end) local time wait for its end; start > end wraps midnight; none when either is null.
    quiet_hours_start = models.TimeField(null=True, blank=True)
    quiet_hours_end = models.TimeField(null=True, blank=True)
    quiet_hours_exempt_types = models.JSONField(default=list)  # e.g. sla_breach: emailed even in quiet hours
    digest_hour = models.PositiveSmallIntegerField(default=conf.DEFAULT_DIGEST_HOUR, validators=[MaxValueValidator(23)])
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"preferences of user {self.user_id}"

    def email_mode(self, notification_type: str) -> str:
        chosen: str | None = self.email_modes.get(notification_type)
        if chosen is not None:
            return chosen
        return EmailMode.IMMEDIATE if notification_type in conf.DEFAULT_EMAIL_TYPES else EmailMode.OFF

    def all_email_modes(self) -> dict[str, str]:
        return {t: self.email_mode(t) for t in NOTIFICATION_TYPES}

    def email_types(self) -> list[str]:
        """The types emailed in any mode, in the canonical order of DESIGN §2 (the older on/off form)."""
        return [t for t, mode in self.all_email_modes().items() if mode != EmailMode.OFF]

    def local(self, at: datetime) -> datetime:
        return at.astimezone(ZoneInfo(self.time_zone))

    def quiet_until(self, at: datetime) -> datetime | None:
        """The end of the quiet hours ``at`` falls in, or None outside them."""
        start, end = self.quiet_hours_start, self.quiet_hours_end
        if start is None or end is None or start == end:
            return None
        local = self.local(at)
        now = local.time()
        if start < end:
            end_date: date | None = local.date() if start <= now < end else None
        elif now >= start:  # a window wrapping midnight, before midnight: it ends tomorrow
            end_date = local.date() + timedelta(days=1)
        else:
            end_date = local.date() if now < end else None
        return None if end_date is None else datetime.combine(end_date, end, tzinfo=local.tzinfo)


class EmailAttempts(models.Model):
    """An email on its way: attempts, the claim of the worker sending it, and how it ended."""

    to_email = models.EmailField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Set with a fresh token when a worker claims it, so concurrent workers never send it twice.
    claim_token = models.CharField(max_length=32, blank=True, editable=False)
    claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Digest(EmailAttempts):
    """One user's daily digest email: at most one per user and local date, claimed like a delivery before sending."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        SENT = "sent"
        EMPTY = "empty"  # every notification it would list was read by then: no email
        FAILED = "failed"
        SKIPPED = "skipped"  # the user is inactive

    user_id = models.BigIntegerField()
    local_date = models.DateField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user_id", "local_date"], name="digest_once_per_user_day")]
        indexes = [
            models.Index(fields=["status"], condition=Q(status__in=["pending", "sending"]), name="digest_open"),
        ]

    def __str__(self) -> str:
        return f"digest of user {self.user_id} for {self.local_date}: {self.status}"


class EmailDelivery(EmailAttempts):
    """The email of one in-app notification: its progress through retries, and a failure an admin can retry.

    ``mode`` is the user's email mode for its type when it was stored. A delivery with ``not_before`` is scheduled
    (the unread delay, or the end of quiet hours): the due job releases it then. A digest-mode delivery is never sent
    on its own: the digest that lists it (``digest``) is.
    """

    class Status(models.TextChoices):
        PENDING = "pending"  # waiting for its (first or next) attempt
        SENDING = "sending"  # claimed by a worker
        SENT = "sent"
        FAILED = "failed"  # retries exhausted or a permanent error: an admin may retry it
        SKIPPED = "skipped"  # nothing to do (the user is inactive)

    notification = models.OneToOneField(InAppNotification, on_delete=models.CASCADE, related_name="email_delivery")
    user_id = models.BigIntegerField()
    mode = models.CharField(
        max_length=16, choices=[c for c in EmailMode.choices if c[0] != EmailMode.OFF], default=EmailMode.IMMEDIATE
    )
    not_before = models.DateTimeField(null=True, blank=True)
    digest = models.ForeignKey(Digest, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="email_delivery_status"),
            models.Index(
                fields=["not_before"], condition=Q(status="pending", not_before__isnull=False), name="email_delivery_due"
            ),
            models.Index(
                fields=["user_id"], condition=Q(status="pending", mode="digest", digest__isnull=True),
                name="email_delivery_undigested",
            ),
        ]
        verbose_name_plural = "email deliveries"

    def __str__(self) -> str:
        return f"email for notification {self.notification_id}: {self.status}"


class RejectedMessage(models.Model):
    """A consumed message that gave up (invalid payload, or retries exhausted), kept for admins to inspect."""

    task_name = models.CharField(max_length=100)
    kwargs = models.JSONField()
    reason = models.TextField()
    retries = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.task_name}: {self.reason[:80]}"
