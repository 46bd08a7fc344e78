"""Moving tasks into and out of workflow steps (set-based: a batch of tasks enters a step in a few statements)."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from workflow_api.models import Assignment, StepInstance, Task, Workflow, WorkflowStep
from workflow_api.services.assignment import assign_step_instances, pick_assignees
from workflow_api.services.audit import audit_event, record_events


def task_sla(workflow: Workflow, priority: str) -> timedelta:
    """The workflow's total SLA for an internal priority."""
    return getattr(workflow, f"sla_{priority}")


def enter_step(
    tasks: Sequence[Task],
    step: WorkflowStep,
    *,
    now: datetime,
    actor_id: int | None = None,
    also_update: Sequence[str] = (),
) -> None:
    """Move ``tasks`` (whose previous step, if any, is closed) into ``step`` and assign them round-robin.

    Call inside ``transaction.atomic()``. Opens a StepInstance per task due at now + the task's SLA × the step's
    weight, picks assignees from ``step.role`` (none available: the task stays pending, admins are told once),
    saves the tasks (``current_step``, ``assigned_user``, ``status`` and the ``also_update`` fields, in one
    statement), writes audit events and publishes the assignment notifications after commit.
    """
    if not tasks:
        return
    workflow = step.workflow
    instances = [
        StepInstance(
            task=task,
            step=step,
            due_at=now + task_sla(workflow, task.priority) * (float(step.sla_weight) / 100),
            started_at=now,
        )
        for task in tasks
    ]
    StepInstance.objects.bulk_create(instances, batch_size=1000)
    for task in tasks:
        task.current_step = step
    picks = pick_assignees(step.role, len(tasks))
    assign_step_instances(list(zip(tasks, instances)), step.role, picks, now=now, actor_id=actor_id)
    Task.objects.bulk_update(
        tasks, ["current_step", "assigned_user", "status", "updated_at", *also_update], batch_size=500
    )
    record_events(
        [
            audit_event(
                "step.entered",
                entity_type="task",
                entity_id=str(task.task_id),
                actor_id=actor_id,
                ticket_id=task.external_ticket_id,
                data={"step_id": step.pk, "step": step.name, "due_at": instance.due_at.isoformat()},
                at=now,
            )
            for task, instance in zip(tasks, instances)
        ]
    )


def close_active_step(
    task: Task, status: StepInstance.Status, *, now: datetime, actor_id: int | None, notes: str = ""
) -> StepInstance:
    """End the task's active step with ``status`` and end its open assignment; returns the closed instance.

    Call inside the transaction that then moves the task on (``enter_step``) or finishes it; the task's own
    fields are the caller's to set. Raises ``StepInstance.DoesNotExist`` if the task has no active step.
    """
    instance = StepInstance.objects.select_for_update().get(task=task, status=StepInstance.Status.ACTIVE)
    instance.status = status
    instance.ended_at = now
    instance.acted_by_id = actor_id
    instance.notes = notes
    instance.save(update_fields=["status", "ended_at", "acted_by_id", "notes"])
    Assignment.objects.filter(task=task, ended_at__isnull=True).update(ended_at=now)
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
