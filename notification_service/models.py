"""Notification service tables. Users live in the auth service: ``user_id`` is its id, never a foreign key."""
from __future__ import annotations

from django.db import models
from django.db.models import Q

from tts_common.messages import NOTIFICATION_TYPES

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


class NotificationPreference(models.Model):
    """Which notification types a user also receives by email; no row means ``conf.DEFAULT_EMAIL_TYPES``."""

    user_id = models.BigIntegerField(unique=True)
    email_types = models.JSONField(default=list)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"preferences of user {self.user_id}"


class EmailDelivery(models.Model):
    """The email of one in-app notification: its progress through retries, and a failure an admin can retry."""

    class Status(models.TextChoices):
        PENDING = "pending"  # waiting for its (first or next) attempt
        SENDING = "sending"  # claimed by a worker
        SENT = "sent"
        FAILED = "failed"  # retries exhausted or a permanent error: an admin may retry it
        SKIPPED = "skipped"  # nothing to do (the user is inactive)

    notification = models.OneToOneField(InAppNotification, on_delete=models.CASCADE, related_name="email_delivery")
    user_id = models.BigIntegerField()
    to_email = models.EmailField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Set with a fresh token when a worker claims the delivery, so concurrent workers never send it twice.
    claim_token = models.CharField(max_length=32, blank=True, editable=False)
    claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "-created_at"], name="email_delivery_status")]
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
