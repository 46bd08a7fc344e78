"""The SLA monitor, run by celery beat (``workflow.sla.scan``): a task at 75 % of its SLA warns its assignee once
(``sla_warning``); a task past its deadline is reported once (``sla_breach``) and escalated — reassigned
round-robin within the workflow's escalation role or, when the workflow names none, to its coordinator.

Cost follows what is due, not how many tasks are open: each pass claims a batch of due tasks with one
``UPDATE ... SET <marker> = now WHERE pk IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED) RETURNING pk`` over
partial indexes of the tasks still to look at, by deadline, then handles the batch set-based. The marker
UPDATE is the claim: overlapping scans (two beat ticks, two workers) lock disjoint rows, and a claimed task leaves
the index, so it is never warned or breached twice; a batch that fails rolls back with its markers and is claimed
again by the next scan.

Time on hold does not count: tasks on hold are not scanned, and resuming moves ``sla_deadline`` (and the active
step's ``due_at``) on by the time held (:func:`workflow_api.services.actions.task_act`), so the time left is kept.
"""
from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from workflow_api.models import SLA_WARNING_DIVISOR, Assignment, Priority, RoleReplica, StepInstance, Task, Workflow
from workflow_api.services import notify
from workflow_api.services.assignment import ROUND_ROBIN, Decision, assign_step_instances, decide
from workflow_api.services.audit import audit_event, record_events

logger = logging.getLogger(__name__)

WORKING = (Task.Status.PENDING, Task.Status.IN_PROGRESS)  # the SLA clock runs
BATCH_SIZE = 500
# A scan stops claiming after this long and leaves the rest to the next tick, well inside the task time limit.
TIME_BUDGET_SECONDS = 30.0
_SLA_FIELDS = tuple(f"sla_{priority}" for priority in Priority.values)


@dataclass(frozen=True)
class ScanResult:
    warned: int = 0
    breached: int = 0
    escalated: int = 0  # breached tasks handed to someone else

    def __add__(self, other: ScanResult) -> ScanResult:
        return ScanResult(self.warned + other.warned, self.breached + other.breached, self.escalated + other.escalated)


def sla_scan(
    *, now: datetime | None = None, batch_size: int = BATCH_SIZE, time_budget: float = TIME_BUDGET_SECONDS
) -> ScanResult:
    """Warn and breach every task due (as of ``now``, default the time of each batch), a batch per transaction.

    Breaches go first: they matter more, and a task breached is no longer warned.
    """
    started = time.monotonic()
    total = ScanResult()
    for handle in (sla_breach_batch, sla_warning_batch):
        while time.monotonic() - started < time_budget:
            result = handle(now=now or timezone.now(), limit=batch_size)
            total += result
            if max(result.warned, result.breached) < batch_size:
                break
    logger.info(
        "sla scan",
        extra={
            "operation": "sla.scan",
            "warned": total.warned,
            "breached": total.breached,
            "escalated": total.escalated,
            "duration_ms": round((time.monotonic() - started) * 1000, 2),
        },
    )
    return total


# --- Claiming --------------------------------------------------------------------------------------------------------
def _claim(candidates: QuerySet[Task], marker: str, *, now: datetime, limit: int) -> list[UUID]:
    """Set ``marker`` to ``now`` on up to ``limit`` candidates; their ids. In no particular order: an ORDER BY
    would lead the planner to walk the deadline index rather than read just the due ranges.

    SKIP LOCKED: a task another scan is claiming, or an action holds, is left to a later scan rather than waited
    for; the candidates' conditions are re-checked on the locked rows, so what was just closed, held or claimed is
    not taken. (SQLite, the embedded demo, has no row locks: it runs one writing transaction at a time.)
    """
    subquery = candidates.order_by().select_for_update(skip_locked=True, of=("self",)).values("pk")[:limit]
    sql, params = subquery.query.sql_with_params()
    quote = connection.ops.quote_name
    pk = Task._meta.pk
    field = Task._meta.get_field(marker)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(Task._meta.db_table)} SET {quote(field.column)} = %s "
            f"WHERE {quote(pk.column)} IN ({sql}) RETURNING {quote(pk.column)}",
            [field.get_db_prep_value(now, connection), *params],
        )
        return [pk.to_python(row[0]) for row in cursor.fetchall()]


def _claimed(ids: list[UUID]) -> list[Task]:
    return list(
        Task.objects.filter(pk__in=ids)
        .select_related("workflow__escalation_role", "workflow__coordinator_role", "owner")
        .order_by("sla_deadline", "pk")
    )


# --- Warnings --------------------------------------------------------------------------------------------------------
@transaction.atomic
def sla_warning_batch(*, now: datetime, limit: int) -> ScanResult:
    """Claim and warn up to ``limit`` tasks with a quarter or less of their SLA left (so 75 % used)."""
    # A task's SLA depends on its workflow and priority: one deadline range per pair, each an index range scan
    # (OR-ed in a bitmap), so a scan reads what is due and not, say, every task of a long-SLA workflow.
    ranges = Q()
    for workflow in Workflow.objects.exclude(status=Workflow.Status.DRAFT).only("pk", *_SLA_FIELDS):
        for priority in Priority.values:
            quarter = getattr(workflow, f"sla_{priority}") / SLA_WARNING_DIVISOR
            ranges |= Q(workflow_id=workflow.pk, priority=priority, sla_deadline__lte=now + quarter)
    if not ranges:
        return ScanResult()
    due = Task.objects.filter(
        ranges, status__in=WORKING, sla_warned_at__isnull=True, sla_breached_at__isnull=True, sla_deadline__gt=now
    )
    tasks = _claimed(_claim(due, "sla_warned_at", now=now, limit=limit))
    events = []
    for task in tasks:
        recipient = task.assigned_user_id or task.owner_id  # a pending task: its coordinator, who can move it
        if recipient is not None:
            notify.notify_users(
                [recipient],
                "sla_warning",
                f"SLA warning: {task.title}",
                f"75% of this task's SLA has elapsed; it is due at {task.sla_deadline.isoformat()}.",
                task=task,
                metadata={"sla_deadline": task.sla_deadline.isoformat()},
            )
        events.append(_event(task, "task.sla_warning", now, notified_user=recipient))
    record_events(events)
    return ScanResult(warned=len(tasks))


# --- Breaches and escalation -------------------------------------------------------------------------------------------
@transaction.atomic
def sla_breach_batch(*, now: datetime, limit: int) -> ScanResult:
    """Claim up to ``limit`` tasks past their deadline: report each breach, then escalate."""
    due = Task.objects.filter(status__in=WORKING, sla_breached_at__isnull=True, sla_deadline__lte=now)
    tasks = _claimed(_claim(due, "sla_breached_at", now=now, limit=limit))
    if not tasks:
        return ScanResult()
    events = []
    for task in tasks:
        notify.notify_users(
            sorted({user for user in (task.assigned_user_id, task.owner_id) if user is not None}),
            "sla_breach",
            f"SLA breached: {task.title}",
            f"This task was due at {task.sla_deadline.isoformat()}; it is being escalated.",
            task=task,
            metadata={"sla_deadline": task.sla_deadline.isoformat()},
        )
        events.append(_event(task, "task.sla_breached", now, assigned_user=task.assigned_user_id))
    record_events(events)
    return ScanResult(breached=len(tasks), escalated=_escalate(tasks, now=now))


@dataclass
class _Escalation:
    task: Task
    role: RoleReplica
    from_user: int | None
    to_user: int | None = None
    decision: Decision | None = None
    reassigned: bool = False

    @property
    def outcome(self) -> str:
        if self.reassigned:
            return "reassigned"
        return "no_target" if self.to_user is None else "kept"


def _escalation_targets(tasks: Sequence[Task], *, now: datetime) -> list[_Escalation]:
    """Who takes each breached task: the next user (round-robin) of the workflow's escalation role; with none
    named, the task's owner (its coordinator) unless they already hold it, else the coordinator role's next user.
    One pick call for the whole batch, so its pointers are locked once, in role order."""
    escalations = []
    for task in tasks:
        workflow = task.workflow
        escalation = _Escalation(task, workflow.escalation_role or workflow.coordinator_role, task.assigned_user_id)
        owner = task.owner
        if workflow.escalation_role is None and owner is not None and owner.is_active and owner.pk != task.assigned_user_id:
            escalation.to_user = task.owner_id
        escalations.append(escalation)
    wanted = Counter((e.role.pk, ROUND_ROBIN) for e in escalations if e.to_user is None)
    picks: dict[int, Iterator[Decision]] = {role_id: iter(made) for (role_id, _), made in decide(wanted).items()}
    for escalation in escalations:
        if escalation.to_user is None:
            escalation.decision = next(picks[escalation.role.pk])
            escalation.to_user = escalation.decision.user_id
        else:
            escalation.decision = Decision.direct(escalation.role.pk, escalation.to_user, now=now)
    return escalations


def _escalate(tasks: Sequence[Task], *, now: datetime) -> int:
    """Reassign the breached tasks per :func:`_escalation_targets`; returns how many changed hands. A task whose
    target already holds it stays; one with nobody to take it stays too, and the admins are told."""
    escalations = _escalation_targets(tasks, now=now)
    moving = [e for e in escalations if e.to_user is not None and e.to_user != e.from_user]
    instances = {
        instance.task_id: instance
        for instance in StepInstance.objects.filter(task__in=[e.task for e in moving], status=StepInstance.Status.ACTIVE)
    }
    moving = [e for e in moving if e.task.pk in instances]
    for escalation in moving:
        escalation.reassigned = True
    Assignment.objects.filter(task__in=[e.task for e in moving], ended_at__isnull=True).update(ended_at=now)
    assign_step_instances(
        [(e.task, instances[e.task.pk]) for e in moving],
        [e.decision for e in moving],
        now=now,
        reason=Assignment.Reason.ESCALATION,
    )
    # One UPDATE per new holder (a role's few users) rather than bulk_update's CASE per row; assign_step_instances
    # set the same values on the instances in memory.
    by_user: dict[int, list[UUID]] = defaultdict(list)
    for escalation in moving:
        by_user[escalation.to_user].append(escalation.task.pk)
    for user_id, task_ids in by_user.items():
        Task.objects.filter(pk__in=task_ids).update(assigned_user_id=user_id, status=Task.Status.IN_PROGRESS, updated_at=now)
    for escalation in moving:
        notify.notify_users(
            [escalation.to_user],
            "task_escalation",
            f"SLA breached, escalated to you: {escalation.task.title}",
            f"The task missed its SLA (due {escalation.task.sla_deadline.isoformat()}) and was escalated to you "
            f"as a member of {escalation.role.name!r}.",
            task=escalation.task,
            metadata={"reason": "sla_breach", "from_user": escalation.from_user},
        )
    stuck = [e for e in escalations if e.to_user is None]
    if stuck:
        notify.notify_admins(
            "sla_breach",
            f"{len(stuck)} breached task(s) could not be escalated",
            "No active user holds their escalation role; the tasks stay with their current assignees.",
            metadata={"task_ids": [str(e.task.pk) for e in stuck[:100]], "role_ids": sorted({e.role.pk for e in stuck})},
        )
    record_events(
        [
            _event(
                e.task,
                "task.sla_escalated",
                now,
                role_id=e.role.pk,
                from_user=e.from_user,
                to_user=e.to_user,
                outcome=e.outcome,
            )
            for e in escalations
        ]
    )
    return len(moving)


def _event(task: Task, action: str, now: datetime, **data: object):
    return audit_event(
        action,
        entity_type="task",
        entity_id=str(task.task_id),
        ticket_id=task.external_ticket_id,
        data={"sla_deadline": task.sla_deadline.isoformat(), **data},
        at=now,
    )
