"""The SLA monitor, run by celery beat (``workflow.sla.scan``): a task reaching one of its workflow's warning
thresholds (default 50 %, 75 %, 90 % of its SLA, in business time, pauses excluded) warns its assignee, once per
threshold (``sla_warning``, naming it); a task past its deadline is reported once (``sla_breach``) and escalated — reassigned
round-robin within the workflow's escalation role or, when the workflow names none, to its coordinator.

Cost follows what is due, not how many tasks are open: each pass claims a batch of due tasks with one
``UPDATE ... SET <marker> = now WHERE pk IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED) RETURNING pk`` over
partial indexes of the tasks still to look at (by deadline; by next warning time, which intake and
:mod:`workflow_api.services.deadlines` store), then handles the batch set-based. The marker
UPDATE is the claim: overlapping scans (two beat ticks, two workers) lock disjoint rows, and a claimed task leaves
the index, so it is never warned or breached twice; a batch that fails rolls back with its markers and is claimed
again by the next scan.

Time on hold does not count: tasks on hold are not scanned, and resuming recomputes ``sla_deadline``, the next
warning and the active step's ``due_at`` from the pause log (:func:`workflow_api.services.deadlines.rearm`).
"""
from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import connection, transaction
from django.db.models import Case, Field, QuerySet, Value, When
from django.utils import timezone

from tts_common.messaging import outbox
from tts_common.messaging.outbox import Message
from workflow_api.models import Assignment, ReportEvent, RoleReplica, StepInstance, Task
from workflow_api.services import notify
from workflow_api.services.assignment import ROUND_ROBIN, Decision, assign_step_instances, decide
from workflow_api.services.audit import record_events
from workflow_api.services.deadlines import closed_pauses, next_warning, sla_event
from workflow_api.services.reports import Delta, end_assignments_away, record_deltas

logger = logging.getLogger(__name__)

WORKING = Task.SLA_RUNNING_STATUSES  # the SLA clock runs and someone can act on the task
BATCH_SIZE = 500
# A scan stops claiming after this long and leaves the rest to the next tick, well inside the task time limit.
TIME_BUDGET_SECONDS = 30.0


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
def _claim(
    candidates: QuerySet[Task], values: dict[str, object], *, limit: int, returning: str = "task_id"
) -> list[tuple[UUID, Any]]:
    """Set the marker fields ``values`` on up to ``limit`` candidates; each one's (pk, ``returning``), a field the
    claim does not set. In no particular order: an ORDER BY would lead the planner to walk the deadline index rather than
    read just the due ranges.

    SKIP LOCKED: a task another scan is claiming, or an action holds, is left to a later scan rather than waited
    for; the candidates' conditions are re-checked on the locked rows, so what was just closed, held or claimed is
    not taken.
    """
    subquery = candidates.order_by().select_for_update(skip_locked=True, of=("self",)).values("pk")[:limit]
    sql, params = subquery.query.sql_with_params()
    quote = connection.ops.quote_name
    pk, pk_column = _task_column("task_id")
    fields = [_task_column(name) for name in values]
    assignments = ", ".join(f"{quote(column)} = %s" for _, column in fields)
    extra, extra_column = _task_column(returning)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(Task._meta.db_table)} SET {assignments} "
            f"WHERE {quote(pk_column)} IN ({sql}) RETURNING {quote(pk_column)}, {quote(extra_column)}",
            [*(field.get_db_prep_value(values[field.name], connection) for field, _ in fields), *params],
        )
        return [(pk.to_python(row[0]), extra.to_python(row[1])) for row in cursor.fetchall()]


def _task_column(name: str) -> tuple[Field[Any, Any], str]:
    """Task's field ``name`` and its column: ``name`` is one of its own concrete fields, never a relation's other end."""
    field = Task._meta.get_field(name)
    if not isinstance(field, Field) or field.column is None:
        raise TypeError(f"Task.{name} has no column")
    return field, field.column


def _claimed(ids: list[UUID]) -> list[Task]:
    return list(
        Task.objects.filter(pk__in=ids)
        .select_related("workflow__escalation_role", "workflow__coordinator_role", "workflow__calendar", "owner")
        .order_by("sla_deadline", "pk")
    )


# --- Warnings --------------------------------------------------------------------------------------------------------
@transaction.atomic
def sla_warning_batch(*, now: datetime, limit: int) -> ScanResult:
    """Claim and warn up to ``limit`` tasks whose next warning time has come, then arm each one's next threshold.

    The claim clears ``sla_next_warning_at`` (the task leaves the index) and the new one is written in the same
    transaction. Thresholds a task passed together (the monitor was down, a deadline moved) give one warning,
    naming the highest.
    """
    due = Task.objects.filter(
        status__in=WORKING, sla_next_warning_at__lte=now, sla_breached_at__isnull=True, sla_deadline__gt=now
    )
    claimed = dict(
        _claim(due, {"sla_warned_at": now, "sla_next_warning_at": None}, limit=limit, returning="sla_next_warning_percent")
    )
    tasks = _claimed(list(claimed))
    pauses = closed_pauses(list(claimed))
    events = []
    deltas: list[Delta] = []
    messages: list[Message] = []
    for task in tasks:
        reached = claimed[task.pk]
        task.sla_next_warning_at, task.sla_next_warning_percent = next_warning(
            task, pauses[task.pk], after_percent=reached, now=now
        )
        ahead = task.sla_next_warning_percent
        reached = max(
            (p for p in task.workflow.sla_warning_thresholds if p >= reached and (ahead is None or p < ahead)),
            default=reached,
        )
        recipient = task.assigned_user_id or task.owner_id  # a pending task: its coordinator, who can move it
        if recipient is not None:
            messages += notify.inapp_messages(
                [recipient],
                "sla_warning",
                f"SLA warning ({reached}%): {task.title}",
                f"{reached}% of this task's SLA has elapsed; it is due at {task.sla_deadline.isoformat()}.",
                task=task,
                metadata={"sla_deadline": task.sla_deadline.isoformat(), "threshold": reached},
            )
        events.append(sla_event(task, "task.sla_warning", now, notified_user=recipient, threshold=reached))
        deltas.append(Delta(ReportEvent.WARNED, now, task, task.current_step_id, recipient))
    _arm_next_warnings(tasks)
    record_events(events)
    record_deltas(deltas)
    outbox.publish(messages)
    return ScanResult(warned=len(tasks))


def _arm_next_warnings(tasks: Sequence[Task]) -> None:
    """Store each task's next warning: one UPDATE over ``unnest``ed arrays (bulk_update's CASE per row was most of a
    warning batch's cost)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Task._meta.db_table} AS t SET sla_next_warning_at = v.at, sla_next_warning_percent = v.percent "
            "FROM unnest(%s::uuid[], %s::timestamptz[], %s::smallint[]) AS v(task_id, at, percent) "
            "WHERE t.task_id = v.task_id",
            [
                [task.task_id for task in tasks],
                [task.sla_next_warning_at for task in tasks],
                [task.sla_next_warning_percent for task in tasks],
            ],
        )


# --- Breaches and escalation -------------------------------------------------------------------------------------------
@transaction.atomic
def sla_breach_batch(*, now: datetime, limit: int) -> ScanResult:
    """Claim up to ``limit`` tasks past their deadline: report each breach, then escalate."""
    due = Task.objects.filter(status__in=WORKING, sla_breached_at__isnull=True, sla_deadline__lte=now)
    tasks = _claimed([pk for pk, _ in _claim(due, {"sla_breached_at": now}, limit=limit)])
    if not tasks:
        return ScanResult()
    events = []
    messages: list[Message] = []
    for task in tasks:
        messages += notify.inapp_messages(
            sorted({user for user in (task.assigned_user_id, task.owner_id) if user is not None}),
            "sla_breach",
            f"SLA breached: {task.title}",
            f"This task was due at {task.sla_deadline.isoformat()}; it is being escalated.",
            task=task,
            metadata={"sla_deadline": task.sla_deadline.isoformat()},
        )
        events.append(sla_event(task, "task.sla_breached", now, assigned_user=task.assigned_user_id))
    record_events(events)
    record_deltas(Delta(ReportEvent.BREACHED, now, task, task.current_step_id, task.assigned_user_id) for task in tasks)
    outbox.publish(messages)
    return ScanResult(breached=len(tasks), escalated=_escalate(tasks, now=now))


@dataclass
class _Escalation:
    task: Task
    role: RoleReplica
    from_user: int | None
    decision: Decision  # its user_id: who takes the task (None: nobody can)
    reassigned: bool = False

    @property
    def to_user(self) -> int | None:
        return self.decision.user_id

    @property
    def outcome(self) -> str:
        if self.reassigned:
            return "reassigned"
        return "no_target" if self.to_user is None else "kept"


def _escalation_targets(tasks: Sequence[Task], *, now: datetime) -> list[_Escalation]:
    """Who takes each breached task: the next user (round-robin) of the workflow's escalation role; with none
    named, the task's owner (its coordinator) unless they already hold it, else the coordinator role's next user.
    One pick call for the whole batch, so its pointers are locked once, in role order."""
    targets: list[tuple[Task, RoleReplica, int | None]] = []  # (task, role, its owner if they take it)
    for task in tasks:
        workflow = task.workflow
        owner = task.owner
        owner_takes_it = (
            workflow.escalation_role is None and owner is not None and owner.is_active and owner.pk != task.assigned_user_id
        )
        targets.append((task, workflow.escalation_role or workflow.coordinator_role, task.owner_id if owner_takes_it else None))
    wanted = Counter((role.pk, ROUND_ROBIN) for _, role, owner_id in targets if owner_id is None)
    picks: dict[int, Iterator[Decision]] = {role_id: iter(made) for (role_id, _), made in decide(wanted).items()}
    return [
        _Escalation(
            task,
            role,
            task.assigned_user_id,
            next(picks[role.pk]) if owner_id is None else Decision.direct(role.pk, owner_id, now=now),
        )
        for task, role, owner_id in targets
    ]


def _escalate(tasks: Sequence[Task], *, now: datetime) -> int:
    """Reassign the breached tasks per :func:`_escalation_targets`; returns how many changed hands. A task whose
    target already holds it stays; one with nobody to take it stays too, and the admins are told."""
    escalations = _escalation_targets(tasks, now=now)
    # (escalation, its new holder)
    changing = [(e, e.to_user) for e in escalations if e.to_user is not None and e.to_user != e.from_user]
    instances = {
        instance.task_id: instance
        for instance in StepInstance.objects.filter(
            task__in=[e.task for e, _ in changing], status=StepInstance.Status.ACTIVE
        )
    }
    moving = [(e, to_user) for e, to_user in changing if e.task.pk in instances]
    for escalation, _ in moving:
        escalation.reassigned = True
    end_assignments_away([e.task for e, _ in moving], now=now)
    assign_step_instances(
        [(e.task, instances[e.task.pk]) for e, _ in moving],
        [e.decision for e, _ in moving],
        now=now,
        reason=Assignment.Reason.ESCALATION,
    )
    # One UPDATE per new holder (a role's few users) rather than bulk_update's CASE per row; assign_step_instances
    # set the same values on the instances in memory.
    by_user: dict[int, list[UUID]] = defaultdict(list)
    for escalation, to_user in moving:
        by_user[to_user].append(escalation.task.pk)
    for user_id, task_ids in by_user.items():
        # A task awaiting asset selection keeps waiting for one, now from its new holder.
        Task.objects.filter(pk__in=task_ids).update(
            assigned_user_id=user_id,
            status=Case(
                When(status=Task.Status.AWAITING_ASSET_SELECTION, then=Value(Task.Status.AWAITING_ASSET_SELECTION)),
                default=Value(Task.Status.IN_PROGRESS),
            ),
            updated_at=now,
        )
    outbox.publish(
        [
            message
            for escalation, to_user in moving
            for message in notify.inapp_messages(
                [to_user],
                "task_escalation",
                f"SLA breached, escalated to you: {escalation.task.title}",
                f"The task missed its SLA (due {escalation.task.sla_deadline.isoformat()}) and was escalated to you "
                f"as a member of {escalation.role.name!r}.",
                task=escalation.task,
                metadata={"reason": "sla_breach", "from_user": escalation.from_user},
            )
        ]
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
            sla_event(
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
