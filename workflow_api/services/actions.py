"""What people do to tasks: create one by hand from an HDTS ticket (``POST /tasks/``), and act on one
(``POST /tasks/{id}/actions/``): approve, reject, escalate, transfer, hold, resume; and, for admins, decide a task
pending external approval by hand (external_approve, external_reject) or have its check retried (external_retry);
and choose the asset of an AMS reservation (select_asset) when AMS could not reserve the ticket's, or it names none.

Approving a step that has an external action (AMS, BMS) does not move the task: it waits (``awaiting_external``)
while a job on the ``workflow-external`` queue asks the outside system (:mod:`workflow_api.services.external`).

Every action runs in one transaction holding the task's row lock, and re-checks who may act and the task's state
*after* taking the lock: two concurrent actions on one task run one after the other, and the second sees what the
first did (so a double click cannot move a task twice). Notifications and the status sent back to HDTS are
published only once the transaction commits.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from tts_common import contracts
from tts_common.base import hdts, permissions
from tts_common.base.database import lock_then_read
from tts_common.base.errors import ApplicationError, Conflict, Forbidden, Invalid, NotFound
from tts_common.http.api import application_error_status
from tts_common.http.auth import TokenUser, has_permission, is_admin
from tts_common.messaging import outbox
from workflow_api.models import (
    TICKET_ID_MAX_LENGTH,
    Assignment,
    AuditEvent,
    ExternalAction,
    StepInstance,
    Task,
    TaskPause,
    WorkflowTransition,
)
from workflow_api.selectors.tasks import task_is_visible
from workflow_api.services import notify
from workflow_api.services.assignment import ROUND_ROBIN, Decision, assign_step_instances, decide, role_pools
from workflow_api.services.audit import audit_event, record_events
from workflow_api.services.deadlines import REARMED_FIELDS, closed_pauses, rearm
from workflow_api.services.ingestion import IncomingTicket, ingest_tickets
from workflow_api.services.reports import end_assignments_away, record_deltas, task_end_deltas
from workflow_api.services.steps import close_active_step, enter_step, step_of


class TaskAction(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    ESCALATE = "escalate"
    TRANSFER = "transfer"
    HOLD = "hold"
    RESUME = "resume"
    EXTERNAL_APPROVE = "external_approve"
    EXTERNAL_REJECT = "external_reject"
    EXTERNAL_RETRY = "external_retry"
    SELECT_ASSET = "select_asset"


# The permission each action needs (tts_common.base.permissions), besides being the task's assignee or an admin. Deciding
# in place of an outside system is for admins only, even the task's assignee may not.
ACTION_PERMISSIONS: dict[TaskAction, str] = {
    TaskAction.APPROVE: permissions.TASK_ACT,
    TaskAction.REJECT: permissions.TASK_ACT,
    TaskAction.HOLD: permissions.TASK_ACT,
    TaskAction.RESUME: permissions.TASK_ACT,
    TaskAction.TRANSFER: permissions.TASK_TRANSFER,
    TaskAction.ESCALATE: permissions.TASK_ESCALATE,
    TaskAction.SELECT_ASSET: permissions.TASK_ACT,
    TaskAction.EXTERNAL_APPROVE: permissions.ADMIN,
    TaskAction.EXTERNAL_REJECT: permissions.ADMIN,
    TaskAction.EXTERNAL_RETRY: permissions.ADMIN,
}

# States each action may start from (anything else is a 409).
_WORKING = (Task.Status.PENDING, Task.Status.IN_PROGRESS)
_ALLOWED_FROM: dict[TaskAction, tuple[str, ...]] = {
    TaskAction.APPROVE: _WORKING,
    TaskAction.REJECT: _WORKING,
    TaskAction.ESCALATE: _WORKING,
    TaskAction.TRANSFER: _WORKING,
    TaskAction.HOLD: _WORKING,
    TaskAction.RESUME: (Task.Status.ON_HOLD,),
    TaskAction.EXTERNAL_APPROVE: (Task.Status.PENDING_EXTERNAL_APPROVAL,),
    TaskAction.EXTERNAL_REJECT: (Task.Status.PENDING_EXTERNAL_APPROVAL,),
    TaskAction.EXTERNAL_RETRY: (Task.Status.PENDING_EXTERNAL_APPROVAL,),
    TaskAction.SELECT_ASSET: (Task.Status.AWAITING_ASSET_SELECTION,),
}


@dataclass(frozen=True)
class ActionContext:
    """One action on one locked task: who acts (``actor_id`` None = the engine), when, and with what."""

    task: Task
    actor_id: int | None
    actor_username: str
    now: datetime
    notes: str = ""
    to_user: int | None = None
    reference: str = ""  # external_approve: the reservation or approval id the admin obtained by hand
    asset_id: str = ""  # select_asset: the asset to reserve
    duration_days: int | None = None  # select_asset: for how long (else the ticket's)

    def event(self, action: str, **data: Any) -> AuditEvent:
        return audit_event(
            action,
            entity_type="task",
            entity_id=str(self.task.task_id),
            actor_id=self.actor_id,
            actor_username=self.actor_username,
            ticket_id=self.task.external_ticket_id,
            data={"notes": self.notes, **data} if self.notes else data,
            at=self.now,
        )


@transaction.atomic
def task_create_from_ticket(*, ticket: Any, actor: TokenUser) -> Task:
    """A task from an HDTS-shaped ticket, through the same ingestion as the queue (matching, SLA, round-robin).

    Unlike the queue, nothing is kept on failure: an invalid ticket is a 400 with field errors, a ticket no
    deployed workflow matches is a 400 (not stored as unrouted), a ticket that already has a task is a 409.
    No signature is required: the caller is an authenticated admin.
    """
    errors = hdts.ticket_field_errors(ticket)
    if not errors and len(ticket["ticket_id"]) > TICKET_ID_MAX_LENGTH:
        errors = {"ticket_id": [f"Ensure this field has no more than {TICKET_ID_MAX_LENGTH} characters."]}
    if errors:
        raise Invalid(errors)
    if Task.objects.filter(external_ticket_id=ticket["ticket_id"]).exists():
        raise Conflict(f"Ticket {ticket['ticket_id']!r} already has a task.")
    created = ingest_tickets([IncomingTicket(ticket_id=ticket["ticket_id"], data=ticket, received_at=timezone.now())])
    if not created:
        # Raising rolls back what ingestion kept instead (an unrouted ticket, its notifications).
        if Task.objects.filter(external_ticket_id=ticket["ticket_id"]).exists():
            raise Conflict(f"Ticket {ticket['ticket_id']!r} already has a task.")
        raise Invalid({"category": ["No deployed workflow matches this category and sub-category."]})
    task = created[0]
    record_events(
        [
            audit_event(
                "task.created_manually",
                entity_type="task",
                entity_id=str(task.task_id),
                actor_id=actor.id,
                actor_username=actor.username,
                ticket_id=task.external_ticket_id,
            )
        ]
    )
    return task


@transaction.atomic
def task_act(
    *,
    task_id: UUID,
    actor: TokenUser,
    action: str,
    notes: str = "",
    to_user: int | None = None,
    reference: str = "",
    asset_id: str = "",
    duration_days: int | None = None,
) -> Task:
    """Apply ``action`` to the task as ``actor`` (its current assignee, or an admin); returns the task.

    400: a missing/unexpected ``to_user``, ``reference``, ``asset_id`` or ``duration_days``, or a user who cannot
    take the task; 403: not the assignee, or without the action's permission (ACTION_PERMISSIONS); 404: no such
    task; 409: not valid in the task's current state
    (e.g. approving a task on hold).
    """
    action = TaskAction(action)
    if action == TaskAction.TRANSFER and to_user is None:
        raise Invalid({"to_user": ["Required for transfer."]})
    if action != TaskAction.TRANSFER and to_user is not None:
        raise Invalid({"to_user": ["Only a transfer takes a user."]})
    if action != TaskAction.EXTERNAL_APPROVE and reference:
        raise Invalid({"reference": ["Only external_approve takes a reference."]})
    if action == TaskAction.SELECT_ASSET and not asset_id:
        raise Invalid({"asset_id": ["Required to select an asset."]})
    if action != TaskAction.SELECT_ASSET and (asset_id or duration_days is not None):
        field = "asset_id" if asset_id else "duration_days"
        raise Invalid({field: ["Only select_asset takes an asset."]})
    required = ACTION_PERMISSIONS[action]
    if not has_permission(actor, required):
        raise Forbidden(f"To {action} a task takes the {required!r} permission.")
    locked = lock_then_read(
        Task.objects.filter(pk=task_id), "workflow__coordinator_role", "workflow__calendar", "current_step__role"
    )
    if not locked:
        raise NotFound("Task not found.")
    task = locked[0]
    if not is_admin(actor) and task.assigned_user_id != actor.id:
        raise Forbidden("Only the task's current assignee or an admin can act on it.")
    if task.status not in _ALLOWED_FROM[action]:
        raise Conflict(f"Cannot {action} a task that is {task.status}.")
    status_before = task.status
    ctx = ActionContext(
        task=task,
        actor_id=actor.id,
        actor_username=actor.username,
        now=timezone.now(),
        notes=notes,
        to_user=to_user,
        reference=reference,
        asset_id=asset_id,
        duration_days=duration_days,
    )
    _HANDLERS[action](ctx)
    if task.status != status_before:
        notify.send_ticket_status(task.external_ticket_id, task.status)
    return task


# What may be done to many tasks at once, and how many at a time (a request's worth of row locks and notifications).
BULK_ACTIONS = (TaskAction.TRANSFER, TaskAction.HOLD, TaskAction.RESUME, TaskAction.ESCALATE)
BULK_LIMIT = 100


@dataclass(frozen=True)
class BulkOutcome:
    """What became of one task of a bulk action: done (its new status), or refused with the status code and
    reason the one-by-one action would have answered."""

    task_id: UUID
    done: bool
    status_code: int
    task_status: str | None = None
    reason: str = ""
    errors: dict[str, list[str]] | None = None


def task_act_in_bulk(
    *, task_ids: Iterable[UUID], actor: TokenUser, action: str, notes: str = "", to_user: int | None = None
) -> list[BulkOutcome]:
    """Apply ``action`` to each task as if one by one: the same visibility check as the API's (a task the actor
    cannot see is "not found"), then :func:`task_act` in its own transaction — the same rules, audit events,
    notifications and status sent to HDTS. One task's refusal leaves the others done."""
    outcomes = []
    for task_id in dict.fromkeys(task_ids):  # each task once, in the caller's order
        try:
            if not task_is_visible(actor=actor, task_id=task_id):
                raise NotFound("Task not found.")
            task = task_act(task_id=task_id, actor=actor, action=action, notes=notes, to_user=to_user)
        except ApplicationError as refusal:
            outcomes.append(_refused(task_id, refusal))
        else:
            outcomes.append(BulkOutcome(task_id, done=True, status_code=200, task_status=task.status))
    return outcomes


def _refused(task_id: UUID, refusal: ApplicationError) -> BulkOutcome:
    status = application_error_status(refusal)
    if refusal.fields:  # field errors: {"to_user": ["Must be ..."]}
        errors = {field: [str(message) for message in messages] for field, messages in refusal.fields.items()}
        reason = " ".join(message for messages in errors.values() for message in messages)
        return BulkOutcome(task_id, done=False, status_code=status, reason=reason, errors=errors)
    return BulkOutcome(task_id, done=False, status_code=status, reason=refusal.message)


# --- Moving through the workflow -----------------------------------------------------------------------------------
def _approve(ctx: ActionContext) -> None:
    if step_of(ctx.task).external_action:
        request_external_decision(ctx, requested_by_id=ctx.actor_id, requested_by_username=ctx.actor_username)
        return
    follow_approve(ctx)


def follow_approve(ctx: ActionContext) -> None:
    """Close the current step as approved and take its approve transition (none, or one to the end: completed)."""
    transition = _transition(ctx.task, WorkflowTransition.Action.APPROVE)
    _follow(ctx, transition, StepInstance.Status.APPROVED, end_status=Task.Status.COMPLETED)


def follow_reject(ctx: ActionContext) -> None:
    """Close the current step as rejected and take its reject transition; without one the task ends rejected."""
    transition = _transition(ctx.task, WorkflowTransition.Action.REJECT)
    _follow(ctx, transition, StepInstance.Status.REJECTED, end_status=Task.Status.REJECTED)


def _escalate(ctx: ActionContext) -> None:
    transition = _transition(ctx.task, WorkflowTransition.Action.ESCALATE)
    if transition is None:
        _escalate_to_coordinator(ctx)
        return
    # Workflow validation guarantees an escalate transition leads to a step, so the task stays open.
    _follow(ctx, transition, StepInstance.Status.ESCALATED, end_status=Task.Status.REJECTED)
    _notify(
        [ctx.task.owner_id] if ctx.task.owner_id else notify.admin_user_ids(),
        ctx,
        "task_escalation",
        f"Task escalated: {ctx.task.title}",
        f"{ctx.actor_username} escalated the task to step {step_of(ctx.task).name!r}.",
    )


def _follow(
    ctx: ActionContext, transition: WorkflowTransition | None, closed_as: StepInstance.Status, *, end_status: str
) -> None:
    """Close the active step as ``closed_as`` and move along ``transition``; no transition, or one to the end,
    finishes the task with ``end_status``."""
    task = ctx.task
    from_step = step_of(task)
    target = transition.to_step if transition is not None else None
    close_active_step(task, closed_as, now=ctx.now, actor_id=ctx.actor_id, notes=ctx.notes)
    record_events([ctx.event(f"task.{closed_as}", from_step=from_step.name, to_step=target.name if target else None)])
    if target is not None:
        enter_step([task], target, now=ctx.now, actor_id=ctx.actor_id)
        return
    last_holder = task.assigned_user_id
    task.status = end_status
    task.completed_at = ctx.now
    task.current_step = None
    task.assigned_user = None
    task.save(update_fields=["status", "completed_at", "current_step", "assigned_user", "updated_at"])
    record_deltas(task_end_deltas(task, at=ctx.now, step_id=from_step.pk, holder=last_holder))
    record_events([ctx.event("task.closed", outcome=end_status, last_step=from_step.name)])
    verb = "approved" if end_status == Task.Status.COMPLETED else "rejected"
    _notify(
        [task.owner_id, last_holder],
        ctx,
        "task_completed",
        f"Task {end_status}: {task.title}",
        f"{ctx.actor_username} {verb} step {from_step.name!r}; the task is {end_status}.",
        outcome=end_status,
    )


def _transition(task: Task, action: str) -> WorkflowTransition | None:
    return (
        WorkflowTransition.objects.select_related("to_step__role", "to_step__workflow")
        .filter(from_step=task.current_step, action=action)
        .first()
    )


def _escalate_to_coordinator(ctx: ActionContext) -> None:
    """No escalate transition: the task stays at its step and goes to a coordinator — its owner, else the next
    eligible user of the workflow's coordinator role (round-robin)."""
    task = ctx.task
    coordinator_role = task.workflow.coordinator_role
    if task.owner_id not in (None, task.assigned_user_id):
        decision = Decision.direct(coordinator_role.pk, task.owner_id, now=ctx.now)
    else:
        decision = decide({(coordinator_role.pk, ROUND_ROBIN): 1})[(coordinator_role.pk, ROUND_ROBIN)][0]
    target = decision.user_id
    if target is None or target == task.assigned_user_id:
        raise Conflict(f"No other user of the coordinator role {coordinator_role.name!r} can take this task.")
    previous = task.assigned_user_id
    _reassign(ctx, decision, Assignment.Reason.ESCALATION)
    record_events([ctx.event("task.escalated", from_user=previous, to_user=target, step=step_of(task).name)])
    _notify(
        [target],
        ctx,
        "task_escalation",
        f"Task escalated to you: {task.title}",
        f"{ctx.actor_username} escalated the task at step {step_of(task).name!r} to you.",
    )


# --- Changing hands ------------------------------------------------------------------------------------------------
def _transfer(ctx: ActionContext) -> None:
    task = ctx.task
    step = step_of(task)
    # Away and unavailable users get no new work, by hand either.
    if ctx.to_user not in role_pools([step.role_id], now=ctx.now)[step.role_id].eligible:
        raise Invalid(
            {"to_user": [f"Must be an active, available user of the step's role {step.role.name!r}."]}
        )
    if ctx.to_user == task.assigned_user_id:
        raise Invalid({"to_user": ["The task is already assigned to this user."]})
    previous = task.assigned_user_id
    _reassign(ctx, Decision.direct(step.role_id, ctx.to_user, now=ctx.now), Assignment.Reason.TRANSFER)
    record_events([ctx.event("task.transferred", from_user=previous, to_user=ctx.to_user, step=step.name)])
    _notify(
        [previous],
        ctx,
        "task_transfer_out",
        f"Task transferred away: {task.title}",
        f"{ctx.actor_username} transferred the task to another user.",
    )
    _notify(
        [ctx.to_user],
        ctx,
        "task_transfer_in",
        f"Task transferred to you: {task.title}",
        f"{ctx.actor_username} transferred the task at step {step.name!r} to you.",
    )


def _reassign(ctx: ActionContext, decision: Decision, reason: str) -> None:
    """End the open assignment and record the decided user as the holder of the active step."""
    instance = StepInstance.objects.get(task=ctx.task, status=StepInstance.Status.ACTIVE)
    end_assignments_away([ctx.task], now=ctx.now)
    assign_step_instances([(ctx.task, instance)], [decision], now=ctx.now, actor_id=ctx.actor_id, reason=reason)
    ctx.task.save(update_fields=["assigned_user", "status", "updated_at"])


# --- External approval (AMS, BMS) ---------------------------------------------------------------------------------
_EXTERNAL_REQUEST_FIELDS = [
    "status", "external_action", "external_attempt", "external_requested_at", "external_requested_by_id",
    "external_requested_by_username", "external_notes", "external_reference", "external_reason", "external_error",
    "updated_at",
]  # fmt: skip
NO_ASSET_ERROR = "The ticket names no asset to reserve (asset_id and duration_days): choose one."


def reservation_asset(task: Task) -> tuple[str | None, int | None]:
    """The asset an AMS reservation asks for and for how many days: those chosen on the task page, else the
    ticket's ``asset_id`` and ``duration_days`` (either ``None`` when neither gives one)."""
    data = task.ticket_data
    asset = task.selected_asset_id or data.get("asset_id")
    days = task.selected_duration_days or data.get("duration_days")
    return (
        str(asset) if asset not in (None, "") else None,
        days if type(days) is int and days >= 1 else None,
    )


def request_external_decision(
    ctx: ActionContext,
    *,
    requested_by_id: int | None,
    requested_by_username: str,
    notes: str | None = None,
    retry: bool = False,
) -> None:
    """The task waits (``awaiting_external``) for its step's outside system; the check is published after commit
    under the next attempt number (a job for an earlier attempt then does nothing). ``notes`` (default the action's)
    go with the request; ``retry`` keeps the requester, their notes and the last error of the request being
    retried. An AMS reservation with no asset to ask for waits for one to be chosen instead
    (``awaiting_asset_selection``), asking nothing."""
    task = ctx.task
    task.status = Task.Status.AWAITING_EXTERNAL
    task.external_action = step_of(task).external_action
    task.external_attempt += 1
    task.external_reference = task.external_reason = ""
    if not retry:
        task.external_requested_at = ctx.now
        task.external_requested_by_id = requested_by_id
        task.external_requested_by_username = requested_by_username
        task.external_notes = ctx.notes if notes is None else notes
        task.external_error = ""
    if task.external_action == ExternalAction.AMS_RESERVE and None in reservation_asset(task):
        task.status, task.external_error = Task.Status.AWAITING_ASSET_SELECTION, NO_ASSET_ERROR
        task.save(update_fields=_EXTERNAL_REQUEST_FIELDS)
        record_events([ctx.event("task.asset_selection_needed", error=NO_ASSET_ERROR)])
        return
    task.save(update_fields=_EXTERNAL_REQUEST_FIELDS)
    event = "task.external_retried" if retry else "task.external_requested"
    record_events([ctx.event(event, external_action=task.external_action, attempt=task.external_attempt)])
    outbox.publish_one(contracts.EXTERNAL_CHECK, task_id=str(task.task_id), attempt=task.external_attempt)


def notify_external_rejection(ctx: ActionContext, system: str) -> None:
    """The rejection notice, to the approver whose approval it overrides and the task's owner."""
    task = ctx.task
    _notify(
        [task.external_requested_by_id, task.owner_id],
        ctx,
        "external_rejected",
        f"{system} rejected: {task.title}",
        f"{system} rejected the {ExternalAction(task.external_action).label}: {task.external_reason}",
        external_action=task.external_action,
        reason=task.external_reason,
    )


def _external_approve(ctx: ActionContext) -> None:
    task = ctx.task
    task.external_reference = ctx.reference
    task.save(update_fields=["external_reference", "updated_at"])
    record_events([ctx.event("task.external_resolved", decision="approved", reference=ctx.reference)])
    follow_approve(ctx)


def _external_reject(ctx: ActionContext) -> None:
    task = ctx.task
    task.external_reason = ctx.notes or f"Rejected by {ctx.actor_username} in place of the outside system."
    task.save(update_fields=["external_reason", "updated_at"])
    record_events([ctx.event("task.external_resolved", decision="rejected")])
    follow_reject(ctx)
    notify_external_rejection(ctx, ctx.actor_username)


def _external_retry(ctx: ActionContext) -> None:
    task = ctx.task
    request_external_decision(
        ctx,
        requested_by_id=task.external_requested_by_id,
        requested_by_username=task.external_requested_by_username,
        retry=True,
    )


def _select_asset(ctx: ActionContext) -> None:
    """The asset (and days) chosen on the task page, then the reservation asked again for it: by the one who chose,
    with the approver's notes unless the choice gives its own."""
    task = ctx.task
    task.selected_asset_id = ctx.asset_id
    if ctx.duration_days is not None:
        task.selected_duration_days = ctx.duration_days
    if reservation_asset(task)[1] is None:
        raise Invalid({"duration_days": ["Required: the ticket gives no duration."]})
    task.save(update_fields=["selected_asset_id", "selected_duration_days", "updated_at"])
    record_events([ctx.event("task.asset_selected", asset_id=ctx.asset_id, duration_days=reservation_asset(task)[1])])
    request_external_decision(
        ctx,
        requested_by_id=ctx.actor_id,
        requested_by_username=ctx.actor_username,
        notes=ctx.notes or task.external_notes,
    )


# --- Pausing the SLA clock -----------------------------------------------------------------------------------------
def _hold(ctx: ActionContext) -> None:
    """Stop the clock: the pause is logged with its reason (the notes say why)."""
    ctx.task.status = Task.Status.ON_HOLD
    ctx.task.on_hold_since = ctx.now
    ctx.task.save(update_fields=["status", "on_hold_since", "updated_at"])
    TaskPause.objects.create(
        task=ctx.task, reason=TaskPause.Reason.ON_HOLD, notes=ctx.notes, started_at=ctx.now, started_by_id=ctx.actor_id
    )
    record_events([ctx.event("task.held")])


def _resume(ctx: ActionContext) -> None:
    """Back to work: the pause is closed and the deadlines recomputed from the pause log, so holding never eats
    into the SLA (in business time: a hold over a weekend gives back nothing of the weekend, which never counted)."""
    task = ctx.task
    if task.on_hold_since is None:  # _ALLOWED_FROM: only a task on hold resumes, and holding set this
        raise ValueError(f"Task {task.task_id} is {task.status} with no hold start")
    paused = ctx.now - task.on_hold_since
    TaskPause.objects.filter(task=task, ended_at__isnull=True).update(ended_at=ctx.now, ended_by_id=ctx.actor_id)
    task.status = Task.Status.IN_PROGRESS if task.assigned_user_id else Task.Status.PENDING
    task.on_hold_since = None
    instance = (
        StepInstance.objects.select_for_update().select_related("step").filter(task=task, status=StepInstance.Status.ACTIVE).first()
    )
    rearm(task, instance, closed_pauses([task.pk])[task.pk], now=ctx.now)
    task.save(update_fields=["status", "on_hold_since", *REARMED_FIELDS])
    if instance is not None:
        instance.save(update_fields=["due_at"])
    record_events(
        [ctx.event("task.resumed", paused_seconds=round(paused.total_seconds()), sla_deadline=task.sla_deadline.isoformat())]
    )


def _notify(
    user_ids: Iterable[int | None], ctx: ActionContext, notification_type: str, subject: str, message: str, **metadata: Any
) -> None:
    recipients = sorted({user_id for user_id in user_ids if user_id is not None})
    notify.notify_users(
        recipients, notification_type, subject, message, task=ctx.task, metadata={"action_by": ctx.actor_id, **metadata}
    )


_HANDLERS: dict[TaskAction, Callable[[ActionContext], None]] = {
    TaskAction.APPROVE: _approve,
    TaskAction.REJECT: follow_reject,
    TaskAction.ESCALATE: _escalate,
    TaskAction.TRANSFER: _transfer,
    TaskAction.HOLD: _hold,
    TaskAction.RESUME: _resume,
    TaskAction.EXTERNAL_APPROVE: _external_approve,
    TaskAction.EXTERNAL_REJECT: _external_reject,
    TaskAction.EXTERNAL_RETRY: _external_retry,
    TaskAction.SELECT_ASSET: _select_asset,
}
