"""The HDTS ticket store: every ticket received over HTTP and its status as the workflow engine reports it back."""
from __future__ import annotations

from django.db import models

from tts_common.base import hdts

RECEIVED = "received"


class HdtsTicket(models.Model):
    """A ticket as HDTS sent it (``payload``), with the fields we filter on copied out of it."""

    ticket_id = models.CharField(max_length=hdts.NAME_MAX_LENGTH, unique=True)
    payload = models.JSONField()
    title = models.CharField(max_length=hdts.TITLE_MAX_LENGTH)
    priority = models.CharField(max_length=10, choices=[(p, p) for p in hdts.PRIORITIES])
    category = models.CharField(max_length=hdts.NAME_MAX_LENGTH)
    sub_category = models.CharField(max_length=hdts.NAME_MAX_LENGTH)
    department = models.CharField(max_length=hdts.NAME_MAX_LENGTH, blank=True, default="")
    # The latest status the workflow engine reported (send_ticket_status).
    status = models.CharField(max_length=64, default=RECEIVED)
    status_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="hdts_ticket_status_idx"),
            models.Index(fields=["priority", "-created_at"], name="hdts_ticket_priority_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id}: {self.title}"


class TicketStatusUpdate(models.Model):
    """One ``send_ticket_status`` message, kept even for a ticket this service never stored (HDTS may publish to
    the queue directly). ``message_id`` makes a redelivered message a no-op."""

    ticket_id = models.CharField(max_length=hdts.NAME_MAX_LENGTH)
    status = models.CharField(max_length=64)
    message_id = models.CharField(max_length=255, unique=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["ticket_id", "id"], name="hdts_status_ticket_idx")]

    def __str__(self) -> str:
        return f"{self.ticket_id} → {self.status}"
