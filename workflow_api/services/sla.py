"""The SLA monitor, run by celery beat (``workflow.sla.scan``): a task reaching one of its workflow's warning
thresholds (default 50 %, 75 %, 90 % of its SLA, in business time, pauses excluded) warns its assignee, once per
threshold (``sla_warning``, naming it); a task past its deadline is reported once (``sla_breach``) and escalated — reassigned
round-robin within the workflow's escalation role or, when the workflow names none, to its coordinator.

Cost follows what is due, not how many tasks are open: each pass claims a batch of due tasks with one
``SELECT ... LIMIT n FOR UPDATE SKIP LOCKED`` over partial indexes of the tasks still to look at (by deadline; by
next warning time, which intake and :mod:`workflow_api.services.deadlines` store), handles the batch set-based
(a few statements per batch, none per task) and writes every claimed task's markers in one UPDATE before it
commits. The row lock is the claim: overlapping scans (two beat ticks, two workers) lock disjoint rows and skip
each other's, and a claimed task leaves the index when its batch commits (a scan that meets it then re-checks the
committed row and leaves it), so it is never warned or breached twice; a batch that fails rolls back with its
markers and is claimed again by the next scan.

Time on hold does not count: tasks on hold are not scanned, and resuming recomputes ``sla_deadline``, the next
warning and the active step's ``due_at`` from the pause log (:func:`workflow_api.services.deadlines.rearm`).
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from tts_common.base.database import binding_cursor
from tts_common.messaging import outbox
from tts_common.messaging.outbox import Message
from workflow_api.models import Assignment, ReportEvent, RoleReplica, StepInstance, Task, UserReplica, Workflow
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
    """Warn and breach every task due (as of ``now``, default the time of each batch: see :func:`_claim`), a batch
    per transaction.

    Breaches go first: they matter more, and a task breached is no longer warned.
    """
    started = time.monotonic()
    total = ScanResult()
    for handle in (sla_breach_batch, sla_warning_batch):
        while time.monotonic() - started < time_budget:
            result = handle(now=now, limit=batch_size)
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
# What a batch reads of each claimed task (more would be loaded per row on first use: the scan's statement count shows it).
_CLAIMED_FIELDS = (
    "task_id", "workflow", "owner", "assigned_user", "current_step", "external_ticket_id", "title", "priority", "status",
    "ticket_created_at", "sla_deadline", "sla_next_warning_percent", "created_at",
)  # fmt: skip


def _claim(candidates: QuerySet[Task], *, limit: int, owners: bool = False) -> list[Task]:
    """Lock up to ``limit`` candidates (``FOR UPDATE SKIP LOCKED``) and load them with their workflows (one query
    for the batch's few) and, with ``owners``, their owners. In no particular order: an ORDER BY would lead the
    planner to walk the deadline index rather than read just the due ranges.

    The lock is the claim, held to the batch's commit, which writes each task's new markers in ONE UPDATE (one
    new row version per task, not a claim's and then the outcome's: every version costs an entry in each of the
    task table's indexes). A task another scan is claiming, or an action holds, is left to a later scan rather
    than waited for; the candidates' conditions are re-checked on the locked rows, so what was just closed, held,
    or claimed and committed by another scan is not taken.

    Without a time given, a batch dates its events by the clock read after this claim, not before: a claimed row
    may be the version a writer (an approval, intake) committed while the claim ran, stamped by a clock read after
    the scan began, and the reports place an event at the step its task was at by then (the step instance started
    by that time). Dated earlier, a breach named the task's new step and holder at a time the raw rows still put it
    at the step before (or, fresh from intake, at none). Every writer reads its clock once it holds the task's lock,
    and none can take it from the claim before the batch commits, so the events come after every change they saw.
    """
    tasks = list(
        candidates.order_by().select_for_update(skip_locked=True, of=("self",)).only(*_CLAIMED_FIELDS)[:limit]
    )
    tasks.sort(key=lambda task: (task.sla_deadline, task.pk))  # the order of its notices and round-robin picks
    workflows = Workflow.objects.select_related("escalation_role", "coordinator_role", "calendar").in_bulk(
        {task.workflow_id for task in tasks}
    )
    people = UserReplica.objects.in_bulk({task.owner_id for task in tasks} - {None}) if owners else {}
    for task in tasks:
        task.workflow = workflows[task.workflow_id]
        if owners:
            task.owner = people.get(task.owner_id) if task.owner_id is not None else None
    return tasks


def _store(statement: str, columns: Sequence[tuple[str, str, list[Any]]], *, now: datetime) -> None:
    """``UPDATE`` the tasks ``SET`` ``statement`` (``%(now)s`` and the columns of ``v``: ``task_id`` and each
    (name, SQL type, values) of ``columns``), one statement for the batch over ``unnest``ed arrays."""
    names = ", ".join(name for name, _, _ in columns)
    arrays = ", ".join(f"%({name})b::{kind}[]" for name, kind, _ in columns)
    with binding_cursor() as cursor:
        cursor.execute(
            f"UPDATE {Task._meta.db_table} AS t SET {statement} FROM unnest({arrays}) AS v({names}) "
            "WHERE t.task_id = v.task_id",
            {"now": now, **{name: values for name, _, values in columns}},
        )


# --- Warnings --------------------------------------------------------------------------------------------------------
@transaction.atomic
def sla_warning_batch(*, now: datetime | None = None, limit: int) -> ScanResult:
    """Claim and warn up to ``limit`` tasks whose next warning time has come (as of ``now``, default the time of
    the claim: see :func:`_claim`), and arm each one's next threshold.

    Thresholds a task passed together (the monitor was down, a deadline moved) give one warning, naming the
    highest.
    """
    # No condition on the deadline here: the planner would take it for the index condition (task_sla_unbreached,
    # "deadline still ahead": every open task, 17k heap rows read per batch at 1M tasks) rather than this one. A
    # task past its deadline is left to the breach batch (which runs first) and not warned.
    due = Task.objects.filter(
        status__in=WORKING, sla_next_warning_at__lte=now or timezone.now(), sla_breached_at__isnull=True
    )
    claimed = _claim(due, limit=limit)
    now = now or timezone.now()
    tasks = [task for task in claimed if task.sla_deadline > now]
    if not tasks:
        return ScanResult()
    pauses = closed_pauses([task.pk for task in tasks])
    events = []
    deltas: list[Delta] = []
    messages: list[Message] = []
    for task in tasks:
        reached = task.sla_next_warning_percent or 0  # the claim's condition: a warning is pending
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
    _store(
        "sla_warned_at = %(now)s, sla_next_warning_at = v.at, sla_next_warning_percent = v.percent",
        [
            ("task_id", "uuid", [task.task_id for task in tasks]),
            ("at", "timestamptz", [task.sla_next_warning_at for task in tasks]),
            ("percent", "smallint", [task.sla_next_warning_percent for task in tasks]),
        ],
        now=now,
    )
    record_events(events)
    record_deltas(deltas)
    outbox.publish(messages)
    return ScanResult(warned=len(tasks))


# --- Breaches and escalation -------------------------------------------------------------------------------------------
@transaction.atomic
def sla_breach_batch(*, now: datetime | None = None, limit: int) -> ScanResult:
    """Claim up to ``limit`` tasks past their deadline (as of ``now``, default the time of the claim: see
    :func:`_claim`): report each breach, escalate, then mark them breached and hand the escalated ones to their new
    holders in one UPDATE."""
    due = Task.objects.filter(status__in=WORKING, sla_breached_at__isnull=True, sla_deadline__lte=now or timezone.now())
    tasks = _claim(due, limit=limit, owners=True)
    if not tasks:
        return ScanResult()
    now = now or timezone.now()
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
    moved = _escalate(tasks, now=now)
    # A task awaiting asset selection keeps waiting for one, now from its new holder.
    _store(
        "sla_breached_at = %(now)s, assigned_user_id = COALESCE(v.to_user, t.assigned_user_id), "
        f"status = CASE WHEN v.to_user IS NULL OR t.status = '{Task.Status.AWAITING_ASSET_SELECTION}' THEN t.status "
        f"ELSE '{Task.Status.IN_PROGRESS}' END, "
        "updated_at = CASE WHEN v.to_user IS NULL THEN t.updated_at ELSE %(now)s END",
        [
            ("task_id", "uuid", [task.task_id for task in tasks]),
            ("to_user", "bigint", [moved.get(task.pk) for task in tasks]),
        ],
        now=now,
    )
    return ScanResult(breached=len(tasks), escalated=len(moved))


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


def _escalate(tasks: Sequence[Task], *, now: datetime) -> dict[UUID, int]:
    """Reassign the breached tasks per :func:`_escalation_targets` (assignments, audit, notices; the caller stores
    the new holders on the tasks); returns the new holder of each task that changed hands. A task whose target
    already holds it stays; one with nobody to take it stays too, and the admins are told."""
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
    return {escalation.task.pk: to_user for escalation, to_user in moving}
