"""Reads of the audit log."""
from __future__ import annotations

from django.db.models import QuerySet

from workflow_api.models import AuditEvent


def audit_event_list() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.order_by("-occurred_at", "-id")


def audit_action_list() -> list[str]:
    """Every event type recorded so far, sorted (the audit log's filter offers them)."""
    return list(AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct())
