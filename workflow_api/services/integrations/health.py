"""The integration-health table: one row per outside system, moved on by each call with a single UPDATE."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import F
from django.utils import timezone

from workflow_api.models import IntegrationHealth

ERROR_TEXT_MAX = 1000


def record_call(
    integration: str,
    *,
    ok: bool,
    latency_ms: float | None,
    error: str,
    circuit_state: str,
    open_until: datetime | None,
) -> None:
    """Count one call (or one call the open circuit refused: ``latency_ms`` None) and what it showed."""
    now = timezone.now()
    changes: dict[str, Any] = {
        "calls": F("calls") + 1,
        "errors": F("errors") + (0 if ok else 1),
        "last_called_at": now,
        "last_ok": ok,
        "circuit_state": circuit_state,
        "circuit_open_until": open_until,
    }
    if latency_ms is not None:
        changes["last_latency_ms"] = latency_ms
    if ok:
        changes["last_success_at"] = now
    else:
        changes |= {"last_error_at": now, "last_error": error[:ERROR_TEXT_MAX]}
    rows = IntegrationHealth.objects.filter(name=integration)
    if not rows.update(**changes):  # the integration's first call: make its row, then count
        IntegrationHealth.objects.get_or_create(name=integration)
        rows.update(**changes)
