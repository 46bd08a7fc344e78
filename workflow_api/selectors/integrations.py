"""Reads of the AMS/BMS integration health (admins): what the calls recorded, with a status for people."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from circuitbreaker import STATE_OPEN
from django.db.models import Count
from django.utils import timezone

from workflow_api.models import ExternalAction, IntegrationHealth, Task
from workflow_api.services.integrations import INTEGRATION_OF, is_configured


@dataclass(frozen=True)
class IntegrationStatus:
    name: str  # ams | bms
    external_action: str
    label: str
    configured: bool
    # ok: the last call succeeded; degraded: it failed (circuit still closed); down: circuit open;
    # unknown: no call yet; not_configured: its URL is unset.
    status: str
    circuit_state: str
    circuit_open_until: datetime | None
    calls: int
    errors: int
    last_called_at: datetime | None
    last_latency_ms: float | None
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str
    pending_tasks: int  # tasks pending external approval on it


def integration_health_list() -> list[IntegrationStatus]:
    now = timezone.now()
    rows = {row.name: row for row in IntegrationHealth.objects.all()}
    pending = dict(
        Task.objects.filter(status=Task.Status.PENDING_EXTERNAL_APPROVAL)
        .values_list("external_action")
        .annotate(n=Count("pk"))
        .order_by()
    )
    statuses = []
    for action, name in INTEGRATION_OF.items():
        row = rows.get(name) or IntegrationHealth(name=name)
        circuit_open = (
            row.circuit_state == STATE_OPEN and row.circuit_open_until is not None and row.circuit_open_until > now
        )
        configured = is_configured(name)
        if not configured:
            status = "not_configured"
        elif not row.calls:
            status = "unknown"
        elif circuit_open:
            status = "down"
        else:
            status = "ok" if row.last_ok else "degraded"
        statuses.append(
            IntegrationStatus(
                name=name,
                external_action=action,
                label=ExternalAction(action).label,
                configured=configured,
                status=status,
                circuit_state=row.circuit_state if circuit_open or row.circuit_state != STATE_OPEN else "half_open",
                circuit_open_until=row.circuit_open_until if circuit_open else None,
                calls=row.calls,
                errors=row.errors,
                last_called_at=row.last_called_at,
                last_latency_ms=row.last_latency_ms,
                last_success_at=row.last_success_at,
                last_error_at=row.last_error_at,
                last_error=row.last_error,
                pending_tasks=pending.get(action, 0),
            )
        )
    return statuses
