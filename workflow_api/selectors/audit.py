"""Reads of the audit log."""
from __future__ import annotations

from django.db.models import QuerySet

from workflow_api.models import AuditEvent


def audit_event_list() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.order_by("-occurred_at", "-id")
