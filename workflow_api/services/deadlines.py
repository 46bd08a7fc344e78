"""SLA deadlines: ONE function computes when a task's SLA runs out (:func:`task_deadline`: workflow calendar,
priority, start, pauses), used by intake, step entry, resume, recompute and the routing simulator alike.

A task's clock runs over its workflow's business calendar (none: round the clock) from the ticket's creation and
stops while paused: every pause is logged (``TaskPause``), and a task's deadlines are a function of its workflow,
priority, creation and pause log only. So :func:`rearm` can recompute them at any time, whatever changed (a resume,
a calendar's hours or holidays, a workflow's calendar or thresholds) and gets what a person would by hand.

Pauses: only ``on_hold`` stops the clock. The external-approval states (awaiting_external,
pending_external_approval) do not: the requester is still waiting, and a stuck check is for admins to resolve.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.db import transaction

from workflow_api.business_time import Pause, Schedule, deadline
from workflow_api.models import AuditEvent, StepInstance, Task, TaskPause, Workflow
from workflow_api.services.audit import audit_event, record_events

logger = logging.getLogger(__name__)

RECOMPUTE_BATCH_SIZE = 500


def task_sla(workflow: Workflow, priority: str) -> timedelta:
    """The workflow's total SLA for an internal priority (business time when the workflow has a calendar)."""
    sla: timedelta = getattr(workflow, f"sla_{priority}")  # sla_low ... sla_urgent: DurationFields
    return sla


def workflow_schedule(workflow: Workflow) -> Schedule | None:
    """The workflow's business calendar ready for arithmetic; None: round the clock. (The calendar itself, not its
    id, decides: the impact replay gives a workflow an unsaved calendar.)"""
    calendar = workflow.calendar
    return None if calendar is None else calendar.schedule


def task_deadline(
    workflow: Workflow, priority: str, start: datetime, pauses: Iterable[Pause] = (), *, share: float = 1.0
) -> datetime:
    """When ``share`` of the workflow's SLA for ``priority`` has run from ``start`` in the workflow's business time,
    the clock stopped during ``pauses`` ([started, ended) pairs). The task's deadline is ``share=1`` from the
    ticket's creation; a step's due time its weight from the step's start; a warning its threshold."""
    return deadline(workflow_schedule(workflow), start, task_sla(workflow, priority) * share, pauses)


def first_warning(workflow: Workflow, priority: str, start: datetime) -> tuple[datetime | None, int | None]:
    """The first warning of a new task (time, percent), or (None, None) if the workflow warns at no threshold."""
    thresholds = workflow.sla_warning_thresholds
    if not thresholds:
        return None, None
    return task_deadline(workflow, priority, start, share=thresholds[0] / 100), thresholds[0]


def next_warning(
    task: Task, pauses: Sequence[Pause], *, after_percent: int | None, now: datetime | None = None
) -> tuple[datetime | None, int | None]:
    """The task's next warning: the first threshold above ``after_percent`` (None: from the first), skipping those
    already past at ``now`` when given (a moved deadline re-arms the warnings still ahead, not those it jumped)."""
    for percent in task.workflow.sla_warning_thresholds:
        if after_percent is not None and percent <= after_percent:
            continue
        at = task_deadline(task.workflow, task.priority, task.ticket_created_at, pauses, share=percent / 100)
        if now is None or at > now:
            return at, percent
    return None, None


def closed_pauses(task_ids: Sequence[UUID]) -> dict[UUID, list[Pause]]:
    """The finished pauses of each task. An open pause is left out: while paused the stored deadlines are those
    of a clock that never stopped, and resuming recomputes them with the pause closed."""
    pauses: dict[UUID, list[Pause]] = defaultdict(list)
    rows = TaskPause.objects.filter(task_id__in=task_ids, ended_at__isnull=False).values_list(
        "task_id", "started_at", "ended_at"
    )
    for task_id, started, ended in rows:
        if ended is not None:  # always (the filter), for the type
            pauses[task_id].append((started, ended))
    return pauses


@dataclass(frozen=True)
class Rearmed:
    deadline_moved: bool
    breach_rearmed: bool


def rearm(task: Task, instance: StepInstance | None, pauses: Sequence[Pause], *, now: datetime) -> Rearmed:
    """Recompute (in memory) the task's deadline, its active step's due time and its next warning from its
    creation and ``pauses``; the caller holds the task's row lock and saves :data:`REARMED_FIELDS`.

    Markers: a task breached under the old deadline whose new one is still ahead is breached again when that comes
    (the escalation done stays done, and audited); the next warning is the first threshold not yet sent and still
    ahead of ``now`` (warnings already sent are not repeated, those a move jumped over are not sent late).
    """
    workflow = task.workflow
    old = task.sla_deadline
    task.sla_deadline = task_deadline(workflow, task.priority, task.ticket_created_at, pauses)
    breach_rearmed = task.sla_breached_at is not None and task.sla_deadline > now
    if breach_rearmed:
        task.sla_breached_at = None
    task.sla_next_warning_at, task.sla_next_warning_percent = next_warning(
        task, pauses, after_percent=_sent_percent(task), now=now
    )
    if instance is not None:
        weight = float(instance.step.sla_weight) / 100
        since = [(start, end) for start, end in pauses if end > instance.started_at]
        instance.due_at = task_deadline(workflow, task.priority, instance.started_at, since, share=weight)
    return Rearmed(deadline_moved=task.sla_deadline != old, breach_rearmed=breach_rearmed)


def _sent_percent(task: Task) -> int | None:
    """Warnings already sent go up to this percent: every threshold below the pending one (all, with none
    pending); None if none was sent."""
    if task.sla_warned_at is None:
        return None
    return 100 if task.sla_next_warning_percent is None else task.sla_next_warning_percent - 1


REARMED_FIELDS = ["sla_deadline", "sla_breached_at", "sla_next_warning_at", "sla_next_warning_percent", "updated_at"]


def recompute_open_tasks(*, workflow_ids: Sequence[int], now: datetime, reason: str, batch_size: int = RECOMPUTE_BATCH_SIZE) -> int:
    """Recompute the deadlines of the open tasks of ``workflow_ids`` (after their calendar, its hours, time zone or
    holidays, or their thresholds changed); returns how many deadlines moved.

    A batch per transaction, tasks locked in primary-key order (the order every batch uses, so two recomputes never
    deadlock; an action holds one task's lock, the SLA monitor skips locked rows). Each moved deadline is audited.
    """
    moved = 0
    after: UUID | None = None
    while True:
        with transaction.atomic():
            batch = Task.objects.filter(workflow_id__in=workflow_ids, status__in=Task.OPEN_STATUSES).order_by("pk")
            if after is not None:
                batch = batch.filter(pk__gt=after)
            tasks = list(batch.select_for_update(of=("self",)).select_related("workflow__calendar")[:batch_size])
            if not tasks:
                return moved
            after = tasks[-1].pk
            moved += _recompute_batch(tasks, now=now, reason=reason)


def _recompute_batch(tasks: list[Task], *, now: datetime, reason: str) -> int:
    ids = [task.pk for task in tasks]
    pauses = closed_pauses(ids)
    instances = {
        instance.task_id: instance
        for instance in StepInstance.objects.select_for_update()
        .filter(task_id__in=ids, status=StepInstance.Status.ACTIVE)
        .select_related("step")
        .order_by("task_id")
    }
    events = []
    changed = []
    for task in tasks:
        old_deadline = task.sla_deadline
        result = rearm(task, instances.get(task.pk), pauses[task.pk], now=now)
        task.updated_at = now
        changed.append(task)
        if result.deadline_moved:
            events.append(
                sla_event(
                    task,
                    "task.sla_recomputed",
                    now,
                    reason=reason,
                    old_deadline=old_deadline.isoformat(),
                    breach_rearmed=result.breach_rearmed,
                )
            )
    Task.objects.bulk_update(changed, REARMED_FIELDS, batch_size=RECOMPUTE_BATCH_SIZE)
    StepInstance.objects.bulk_update(list(instances.values()), ["due_at"], batch_size=RECOMPUTE_BATCH_SIZE)
    record_events(events)
    logger.info("sla recomputed", extra={"operation": "sla.recompute", "tasks": len(tasks), "moved": len(events)})
    return len(events)


def sla_event(task: Task, action: str, now: datetime, **data: object) -> AuditEvent:
    """An audit event about the task's SLA, naming its (new) deadline."""
    return audit_event(
        action,
        entity_type="task",
        entity_id=str(task.task_id),
        ticket_id=task.external_ticket_id,
        data={"sla_deadline": task.sla_deadline.isoformat(), **data},
        at=now,
    )
