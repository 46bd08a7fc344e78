"""Moving tasks into and out of workflow steps (set-based: a batch of tasks enters a step in a few statements)."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import connection

from workflow_api.models import Assignment, StepInstance, Task, WorkflowStep
from workflow_api.services.assignment import Decision, apply_picks, decide_for_step, record_assignments
from workflow_api.services.audit import audit_event, record_events
from workflow_api.services.deadlines import task_deadline
from workflow_api.services.reports import record_deltas, step_close_deltas


def step_due_at(step: WorkflowStep, priority: str, *, now: datetime) -> datetime:
    """When a task entering ``step`` at ``now`` is due there: the step's share of the task's SLA, counted on the
    workflow's calendar. The one due-time rule of intake, step entry and the routing simulator."""
    return task_deadline(step.workflow, priority, now, share=float(step.sla_weight) / 100)


def step_of(task: Task) -> WorkflowStep:
    """The step an open task is at: every open task is at one, only an ended task is at none."""
    if task.current_step is None:
        raise ValueError(f"Task {task.task_id} is {task.status}, at no step")
    return task.current_step


def open_step_instances(
    tasks: Sequence[Task],
    decisions: Sequence[Decision],
    *,
    now: datetime,
    actor_id: int | None = None,
    audit: bool = True,
) -> list[StepInstance]:
    """Open the StepInstance of each (saved) task's ``current_step``, due once the step's weight of the task's SLA
    has run from now in the workflow's business time, then record the assignments made by :func:`apply_picks` from ``decisions`` (the decisions, Assignment
    rows, audit, notifications).
    ``audit=False``: the caller writes one event covering both (intake does, three rows per ticket being a
    measurable share of its cost)."""
    instances = [
        StepInstance(
            task=task,
            step=step_of(task),
            due_at=step_due_at(step_of(task), task.priority, now=now),
            started_at=now,
        )
        for task in tasks
    ]
    StepInstance.objects.bulk_create(instances, batch_size=1000)
    if audit:
        record_events(
            [
                audit_event(
                    "step.entered",
                    entity_type="task",
                    entity_id=str(task.task_id),
                    actor_id=actor_id,
                    ticket_id=task.external_ticket_id,
                    data={"step_id": instance.step.pk, "step": instance.step.name, "due_at": instance.due_at.isoformat()},
                    at=now,
                )
                for task, instance in zip(tasks, instances, strict=True)
            ]
        )
    record_assignments(list(zip(tasks, instances, strict=True)), decisions, now=now, actor_id=actor_id, audit=audit)
    return instances


def enter_step(
    tasks: Sequence[Task],
    step: WorkflowStep,
    *,
    now: datetime,
    actor_id: int | None = None,
    also_update: Sequence[str] = (),
) -> None:
    """Move ``tasks`` (whose previous step, if any, is closed) into ``step`` and assign them per its rule.

    Call inside ``transaction.atomic()``. Opens a StepInstance per task due at the step's weight of the task's SLA
    from now (business time), picks assignees from ``step.role`` (nobody eligible: the step's policy; held tasks stay pending, admins
    are told once),
    saves the tasks (``current_step``, ``assigned_user``, ``status`` and the ``also_update`` fields, in one
    statement), writes audit events and publishes the assignment notifications after commit.
    """
    if not tasks:
        return
    for task in tasks:
        task.current_step = step
    decisions = decide_for_step(step, len(tasks))
    apply_picks(tasks, decisions, now=now)
    Task.objects.bulk_update(
        tasks, ["current_step", "assigned_user", "status", "updated_at", *also_update], batch_size=500
    )
    open_step_instances(tasks, decisions, now=now, actor_id=actor_id)


# Raw SQL for RETURNING: the instance gets what PostgreSQL computed (the acting assignment's start, the generated
# seconds_spent and due_used) from the one UPDATE, with no read after it.
_CLOSE_SQL = f"""
UPDATE {StepInstance._meta.db_table} SET status = %(status)s, ended_at = %(now)s, acted_by_id = %(actor)s, notes = %(notes)s,
    priority = %(priority)s,
    acted_assigned_at = (SELECT max(a.assigned_at) FROM {Assignment._meta.db_table} a
                         WHERE a.step_instance_id = %(id)s AND a.user_id = %(actor)s AND a.ended_at = %(now)s)
WHERE id = %(id)s RETURNING acted_assigned_at, seconds_spent, due_used"""


def close_active_step(
    task: Task, status: StepInstance.Status, *, now: datetime, actor_id: int | None, notes: str = ""
) -> StepInstance:
    """End the task's active step with ``status`` and end its open assignment; returns the closed instance.

    The visit keeps what the reports read of it (selectors.reports): the task's priority, and when the assignment
    its action ended began (``acted_assigned_at``: the actor's assignment ended now, the latest if several; none
    when the actor did not hold the task).

    Call inside the transaction that then moves the task on (``enter_step``) or finishes it; the task's own
    fields are the caller's to set. Raises ``StepInstance.DoesNotExist`` if the task has no active step.
    """
    instance = StepInstance.objects.select_for_update().get(task=task, status=StepInstance.Status.ACTIVE)
    Assignment.objects.filter(task=task, ended_at__isnull=True).update(ended_at=now)
    instance.status, instance.ended_at, instance.acted_by_id, instance.notes = status, now, actor_id, notes
    instance.priority = task.priority
    # acted_assigned_at is read from the assignments just ended, inside the UPDATE that ends the visit anyway: no
    # statement more on an action's path.
    with connection.cursor() as cursor:
        cursor.execute(
            _CLOSE_SQL,
            {"id": instance.pk, "status": status, "now": now, "actor": actor_id, "notes": notes, "priority": task.priority},
        )
        instance.acted_assigned_at, instance.seconds_spent, instance.due_used = cursor.fetchone()
    record_deltas(step_close_deltas(task, instance, at=now))
    record_events(
        [
            audit_event(
                "step.closed",
                entity_type="task",
                entity_id=str(task.task_id),
                actor_id=actor_id,
                ticket_id=task.external_ticket_id,
                data={"step_id": instance.step_id, "status": status, "notes": notes},
                at=now,
            )
        ]
    )
    return instance
