"""External approval: the AMS/BMS check a step's approval waits on (``workflow.external.check``), and the scheduled
retry of tasks pending external approval (``workflow.external.retry_scan``).

The check never calls HTTP inside a transaction: it reads the task, calls the outside system through its circuit
breaker (:mod:`workflow_api.services.integrations`), then applies the outcome holding the task's row lock, and only
if the task still waits on the same attempt (a redelivered or superseded job does nothing):

- approved: the system's answer (AMS's reservation, BMS's approval) and its reference (reservation id, approval id)
  are kept and the step's approve transition is taken as the requester's decision (next step assigned round-robin,
  or the task completed);
- rejected (BMS): its answer and reason are kept, the reject transition is taken (or the task ends rejected) and the
  approver and the owner get a rejection notice;
- asset not available (AMS's 400 with alternatives): the task waits in ``awaiting_asset_selection`` with AMS's error
  and alternatives, and its assignee is told; choosing an asset (actions.select_asset) asks again;
- no decision (timeout, 5xx, refused, open circuit, not configured): the task waits in
  ``pending_external_approval`` with the error, and admins are told (once per request, not per retry). The retry
  scan asks again while the circuit is not open; an admin can decide by hand (``external_approve``/``_reject``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from circuitbreaker import STATE_OPEN
from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from tts_common import contracts
from tts_common.base.database import lock_then_read
from tts_common.messaging import outbox
from tts_common.messaging.outbox import Message
from workflow_api.models import AuditEvent, ExternalAction, IntegrationHealth, Task
from workflow_api.services import integrations, notify
from workflow_api.services.actions import (
    ActionContext,
    follow_approve,
    follow_reject,
    notify_external_rejection,
    reservation_asset,
)
from workflow_api.services.audit import audit_event, record_events
from workflow_api.services.integrations import (
    AmsReservation,
    BudgetCheck,
    Decision,
    ExternalRequest,
    IntegrationFailure,
)
from workflow_api.services.integrations.base import money_text

logger = logging.getLogger(__name__)

RETRY_BATCH_SIZE = 200


def check_time_limit_seconds() -> float:
    """Longest a check may run: BMS's worst case is a token fetch, a check, a 401 refresh and its check, twice
    (with the retry delay between); the job's soft time limit, and how long before an awaiting task counts as lost."""
    longest: float = max(settings.AMS_TIMEOUT_SECONDS, settings.BMS_TIMEOUT_SECONDS)
    retry_delay: float = settings.BMS_RETRY_DELAY_SECONDS
    return 8 * longest + retry_delay + 30


# --- The check ---------------------------------------------------------------------------------------------------
def external_check(*, task_id: UUID, attempt: int) -> None:
    """Ask the outside system about the task's ``attempt`` and apply its answer (see the module docstring)."""
    task = _waiting(task_id, attempt).select_related("workflow").first()
    if task is None:
        logger.info("external check superseded or done", extra={"operation": "external.check", "task_id": str(task_id)})
        return
    try:
        decision = integrations.decide(task.external_action, _request_of(task))
    except IntegrationFailure as exc:
        _apply(task_id, attempt, None, str(exc))
        return
    _apply(task_id, attempt, decision, "")


def _waiting(task_id: UUID, attempt: int) -> QuerySet[Task]:
    """The task, while it still waits for this ``attempt``'s answer."""
    return Task.objects.filter(pk=task_id, status__in=Task.EXTERNAL_STATUSES, external_attempt=attempt)


# Where each system's answer is kept on the task.
_ANSWER_FIELD: dict[str, str] = {ExternalAction.AMS_RESERVE: "ams_reservation", ExternalAction.BMS_BUDGET_CHECK: "bms_answer"}


def _request_of(task: Task) -> ExternalRequest:
    """The request of the task's current attempt, in its system's shape; raises :class:`IntegrationFailure` when the
    task lacks what the shape needs (an admin then decides)."""
    key = f"{task.task_id}:{task.external_attempt}"
    requester_id = task.external_requested_by_id
    if requester_id is None:
        raise IntegrationFailure("No user's decision requested this check (requester_id)")
    data = task.ticket_data
    if task.external_action == ExternalAction.AMS_RESERVE:
        asset_id, duration_days = reservation_asset(task)
        if asset_id is None or duration_days is None:
            raise IntegrationFailure("No asset to reserve (asset_id and duration_days)")
        return AmsReservation(
            idempotency_key=key,
            asset_id=asset_id,
            requester_id=requester_id,
            task_id=str(task.task_id),
            duration_days=duration_days,
            notes=task.external_notes,
        )
    amount = money_text(data.get("amount"))
    if amount is None:
        raise IntegrationFailure("The ticket has no amount to check against the budget")
    return BudgetCheck(
        idempotency_key=key,
        department=str(data.get("department") or ""),
        amount=amount,
        currency=str(data.get("currency") or settings.BMS_DEFAULT_CURRENCY),
        category=str(data.get("category") or ""),
        requester_id=requester_id,
        justification=str(data.get("justification") or task.description or task.title),
    )


@transaction.atomic
def _apply(task_id: UUID, attempt: int, decision: Decision | None, error: str) -> None:
    locked = lock_then_read(_waiting(task_id, attempt), "workflow__coordinator_role", "current_step__role")
    task = locked[0] if locked else None
    if task is None:  # an admin decided meanwhile, or a newer attempt took over
        return
    status_before = task.status
    system = integrations.INTEGRATION_OF[task.external_action].upper()
    now = timezone.now()
    ctx = ActionContext(
        task=task,
        actor_id=task.external_requested_by_id,
        actor_username=task.external_requested_by_username,
        now=now,
        notes=task.external_notes,
    )
    if decision is None:
        task.status = Task.Status.PENDING_EXTERNAL_APPROVAL
        task.external_error = error
        task.save(update_fields=["status", "external_error", "updated_at"])
        record_events([_event(task, "task.external_failed", system, now, error=error)])
        if status_before == Task.Status.AWAITING_EXTERNAL:  # a scheduled retry that fails again tells no one
            notify.notify_admins(
                "external_approval_pending",
                f"Pending external approval: {task.title}",
                f"{system} could not decide ({error}). The task waits; it is retried automatically, or an admin "
                f"can approve or reject it by hand.",
                task=task,
                metadata={"external_action": task.external_action, "error": error},
            )
    elif decision.alternatives is not None:
        task.status, task.external_error = Task.Status.AWAITING_ASSET_SELECTION, decision.reason
        task.asset_alternatives = list(decision.alternatives)
        task.save(update_fields=["status", "external_error", "asset_alternatives", "updated_at"])
        record_events(
            [_event(task, "task.asset_unavailable", system, now, error=decision.reason, alternatives=task.asset_alternatives)]
        )
        notify.notify_users(
            [task.assigned_user_id] if task.assigned_user_id else [],
            "asset_selection_needed",
            f"Choose an asset: {task.title}",
            f"AMS could not reserve the asset ({decision.reason}). Pick one of the alternatives, or another asset, "
            f"on the task page.",
            task=task,
            metadata={"error": decision.reason, "alternatives": task.asset_alternatives},
        )
    elif decision.approved:
        setattr(task, _ANSWER_FIELD[task.external_action], decision.answer)
        task.external_reference, task.external_error, task.asset_alternatives = decision.reference, "", None
        task.save(
            update_fields=[
                _ANSWER_FIELD[task.external_action], "external_reference", "external_error", "asset_alternatives",
                "updated_at",
            ]
        )  # fmt: skip
        record_events([_event(task, "task.external_approved", system, now, reference=decision.reference)])
        follow_approve(ctx)
    else:
        setattr(task, _ANSWER_FIELD[task.external_action], decision.answer)
        task.external_reason, task.external_error = decision.reason, ""
        task.save(update_fields=[_ANSWER_FIELD[task.external_action], "external_reason", "external_error", "updated_at"])
        record_events([_event(task, "task.external_rejected", system, now, reason=decision.reason)])
        follow_reject(ctx)
        notify_external_rejection(ctx, system)
    if task.status != status_before:
        notify.send_ticket_status(task.external_ticket_id, task.status)


def _event(task: Task, action: str, system: str, now: datetime, **data: Any) -> AuditEvent:
    return audit_event(
        action,
        entity_type="task",
        entity_id=str(task.task_id),
        actor_username=system,  # no actor id: the outside system, as the engine relays it
        ticket_id=task.external_ticket_id,
        data={"external_action": task.external_action, "attempt": task.external_attempt, **data},
        at=now,
    )


# --- The retry scan ------------------------------------------------------------------------------------------------
def external_retry_scan(*, now: datetime | None = None, batch_size: int = RETRY_BATCH_SIZE) -> int:
    """Ask again about tasks pending external approval whose integration's circuit is not open (as the last caller
    saw it), and about awaiting tasks whose check was lost (no outcome within the check's time limit); returns how
    many checks were sent. The task keeps its status: a retry that fails again changes nothing anyone sees."""
    now = now or timezone.now()
    open_integrations = set(
        IntegrationHealth.objects.filter(circuit_state=STATE_OPEN, circuit_open_until__gt=now).values_list(
            "name", flat=True
        )
    )
    actions = [action for action, name in integrations.INTEGRATION_OF.items() if name not in open_integrations]
    lost_before = now - timedelta(seconds=check_time_limit_seconds() + 60)
    with transaction.atomic():
        tasks = list(
            Task.objects.select_for_update(skip_locked=True)
            .filter(
                Q(status=Task.Status.PENDING_EXTERNAL_APPROVAL)
                | Q(status=Task.Status.AWAITING_EXTERNAL, updated_at__lt=lost_before),
                external_action__in=actions,
            )
            .order_by("updated_at")[:batch_size]
        )
        for task in tasks:
            task.external_attempt += 1
            task.updated_at = now
        Task.objects.bulk_update(tasks, ["external_attempt", "updated_at"])
        record_events(
            [
                _event(task, "task.external_retried", integrations.INTEGRATION_OF[task.external_action].upper(), now)
                for task in tasks
            ]
        )
        outbox.publish(
            [
                Message(contracts.EXTERNAL_CHECK, {"task_id": str(task.task_id), "attempt": task.external_attempt})
                for task in tasks
            ]
        )
    if tasks:
        logger.info("external checks retried", extra={"operation": "external.retry_scan", "count": len(tasks)})
    return len(tasks)
