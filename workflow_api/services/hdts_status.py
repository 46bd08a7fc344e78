"""The deployed HDTS's own ticket statuses (``tts.tasks.receive_hdts_ticket_status``): a ticket Closed or Withdrawn
on its side ends the ticket's task here.

- Closed: the task is completed (audited as done by HDTS); the requester's CSAT rating and feedback are stored.
- Withdrawn: the task is cancelled (a terminal status: not open, so the SLA monitor no longer looks at it), audited,
  its assignee and owner are told in-app, and an AMS reservation the task holds is recorded as to be released.
- A task already ended keeps its status; a Closed status still stores its CSAT rating and feedback.
- A status for a ticket that has no task yet (it overtook its ticket, or the ticket waits unrouted) is kept, the
  latest per ticket, and applied when the ticket becomes a task (:func:`apply_pending`).

Everything is idempotent: delivery is at least once, and a status applied twice changes nothing the second time.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tts_common.base import hdts_deployed, signing
from tts_common.base.database import lock_then_read
from workflow_api.models import PendingHdtsStatus, StepInstance, Task, TaskPause
from workflow_api.services import notify
from workflow_api.services.audit import audit_event, record_events
from workflow_api.services.intake_lock import routing_lock
from workflow_api.services.reports import csat_change_delta, record_deltas, task_end_deltas
from workflow_api.services.steps import close_active_step

logger = logging.getLogger(__name__)

ACTOR = "HDTS"
_OUTCOME = {hdts_deployed.CLOSED: Task.Status.COMPLETED, hdts_deployed.WITHDRAWN: Task.Status.CANCELLED}
_STEP_OUTCOME = {hdts_deployed.CLOSED: StepInstance.Status.CLOSED, hdts_deployed.WITHDRAWN: StepInstance.Status.CANCELLED}


class InvalidStatus(Exception):
    pass


@dataclass(frozen=True, slots=True)
class HdtsStatus:
    """A valid ticket-status message of the deployed HDTS."""

    ticket_id: str
    status: str  # hdts_deployed.CLOSED or WITHDRAWN
    payload: dict[str, Any]

    @property
    def csat_rating(self) -> int | None:
        return self.payload.get("csat_rating")

    @property
    def feedback(self) -> str:
        return self.payload.get("feedback") or ""


def parse_status(payload: Any, signature: str | None = None, signed_at: str | int | None = None) -> HdtsStatus:
    """Check a status message's payload and, when ``HDTS_SIGNING_SECRET`` is set, its signature (as for tickets:
    over the payload as received; the deployed HDTS does not sign, so with signing on its statuses are refused)."""
    errors = hdts_deployed.status_errors(payload)
    if errors:
        raise InvalidStatus("validation: " + "; ".join(errors))
    if settings.HDTS_SIGNING_SECRET:
        try:
            signing.verify(settings.HDTS_SIGNING_SECRET, signature, signed_at, payload)
        except signing.SignatureError as exc:
            raise InvalidStatus(f"signature: {exc}") from exc
    return HdtsStatus(ticket_id=payload["ticket_number"], status=payload["status"], payload=payload)


@transaction.atomic
def apply_statuses(statuses: Sequence[HdtsStatus]) -> None:
    """Apply each ticket's latest status of the batch to its task, or keep it for the ticket's intake.

    The routing lock, exclusive, orders this against intake (which holds it shared): a ticket's task is either
    visible here, or its intake starts after this commits and finds the kept status."""
    routing_lock(exclusive=True)
    latest = {status.ticket_id: status for status in statuses}
    tasks = {
        task.external_ticket_id: task
        for task in lock_then_read(Task.objects.filter(external_ticket_id__in=list(latest)), "current_step")
    }
    # Read once the tasks are locked: a close is then dated after whatever held them (an SLA scan's breach and
    # escalation), never before the step and holder it ends.
    now = timezone.now()
    for ticket_id, status in latest.items():
        task = tasks.get(ticket_id)
        if task is None:
            PendingHdtsStatus.objects.update_or_create(
                ticket_id=ticket_id, defaults={"status": status.status, "payload": status.payload, "received_at": now}
            )
            logger.info("HDTS status kept until its ticket arrives", extra={"operation": "hdts_status"})
        else:
            _apply(task, status, now=now)


def apply_pending(ticket_ids: Iterable[str]) -> None:
    """At intake, in its transaction: apply the kept statuses of these tickets to their (new) tasks."""
    rows = list(PendingHdtsStatus.objects.filter(ticket_id__in=list(ticket_ids)))
    if not rows:
        return
    tasks = {
        task.external_ticket_id: task
        for task in lock_then_read(Task.objects.filter(external_ticket_id__in=[row.ticket_id for row in rows]), "current_step")
    }
    now = timezone.now()
    applied = []
    for row in rows:
        task = tasks.get(row.ticket_id)
        if task is not None:  # else still unrouted: kept for when it is routed
            _apply(task, HdtsStatus(row.ticket_id, row.status, row.payload), now=now)
            applied.append(row.ticket_id)
    PendingHdtsStatus.objects.filter(ticket_id__in=applied).delete()


def _apply(task: Task, status: HdtsStatus, *, now: datetime) -> None:
    csat_fields = []
    rated_before = task.csat_rating
    if status.status == hdts_deployed.CLOSED and (status.csat_rating, status.feedback) != (
        task.csat_rating,
        task.csat_feedback,
    ):
        task.csat_rating, task.csat_feedback = status.csat_rating, status.feedback
        csat_fields = ["csat_rating", "csat_feedback"]
    if task.status in Task.OPEN_STATUSES:
        _end(task, status, csat_fields, now=now)
    elif csat_fields:
        task.save(update_fields=[*csat_fields, "updated_at"])
        record_events([_event(task, "task.csat_recorded", status, now)])
        change = csat_change_delta(task, before=rated_before)
        record_deltas([change] if change else [])
    # else: a redelivery, or a status for a task that had already ended: nothing changes


def _end(task: Task, status: HdtsStatus, csat_fields: list[str], *, now: datetime) -> None:
    outcome = _OUTCOME[status.status]
    last_holder, from_step = task.assigned_user_id, task.current_step
    if from_step is not None:
        close_active_step(task, _STEP_OUTCOME[status.status], now=now, actor_id=None, notes=f"{status.status} in HDTS")
    # A task on hold ends its pause: the SLA clock stops for good with the task.
    TaskPause.objects.filter(task=task, ended_at__isnull=True).update(ended_at=now)
    task.status, task.completed_at, task.on_hold_since = outcome, now, None
    task.current_step, task.assigned_user = None, None
    task.save(
        update_fields=[
            "status", "completed_at", "on_hold_since", "current_step", "assigned_user", *csat_fields, "updated_at",
        ]
    )  # fmt: skip
    record_deltas(task_end_deltas(task, at=now, step_id=from_step.pk if from_step else None, holder=last_holder))
    extra: dict[str, Any] = {"last_step": from_step.name if from_step else None}
    if outcome == Task.Status.CANCELLED and task.ams_reservation:
        # The AMS contract (issue #15) has no release call: the reservation to release is recorded here, for an
        # operator (and listed with the task's AMS answer on its page).
        extra["ams_reservation_to_release"] = task.ams_reservation.get("reservation_id")
    record_events([_event(task, f"task.{outcome}", status, now, **extra)])
    verb = "closed" if outcome == Task.Status.COMPLETED else "withdrew"
    notify.notify_users(
        sorted({user for user in (task.owner_id, last_holder) if user is not None}),
        "task_completed",
        f"Task {outcome}: {task.title}",
        f"HDTS {verb} ticket {task.external_ticket_id}; the task is {outcome}.",
        task=task,
        metadata={"outcome": outcome, "by": ACTOR, "hdts_status": status.status},
    )
    # Our ticket_service learns the new status; the deployed HDTS made the change and is not told it back.
    notify.send_ticket_status(task.external_ticket_id, outcome, tell_deployed_hdts=False)


def _event(task: Task, action: str, status: HdtsStatus, now: datetime, **data: Any) -> Any:
    return audit_event(
        action,
        entity_type="task",
        entity_id=str(task.task_id),
        actor_username=ACTOR,
        ticket_id=task.external_ticket_id,
        data={
            "by": ACTOR,
            "hdts_status": status.status,
            "csat_rating": status.csat_rating,
            "feedback": status.feedback,
            "date_completed": status.payload.get("date_completed"),
            **data,
        },
        at=now,
    )
