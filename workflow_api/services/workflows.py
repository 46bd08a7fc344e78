"""Writes of workflow definitions: drafts, deployment (with graph validation), archiving and new versions.

A workflow is editable only as a draft. Deploying freezes it: tasks point at its exact steps, so a later version
(a new draft in the same lineage) never changes tasks already running on an older one.
"""
from __future__ import annotations

from collections import defaultdict, deque
from datetime import timedelta
from decimal import Decimal
from typing import Any, NotRequired, TypedDict

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from rest_framework.exceptions import NotFound, ValidationError

from tts_common.api import Conflict
from tts_common.auth import TokenUser
from workflow_api.models import (
    BusinessCalendar,
    NoEligiblePolicy,
    Priority,
    RoleReplica,
    RoleSettings,
    Workflow,
    WorkflowStep,
    WorkflowTransition,
)
from workflow_api.services.audit import audit_event, record_events
from workflow_api.services.deadlines import recompute_open_tasks
from workflow_api.services.ingestion import route_unrouted_tickets


class StepData(TypedDict):
    name: str
    order: int
    role_id: int
    sla_weight: Decimal
    assignment_strategy: NotRequired[str]  # AssignmentStrategy; default round_robin
    no_eligible_policy: NotRequired[str]  # NoEligiblePolicy; default hold
    external_action: NotRequired[str]  # ExternalAction; absent or "" = none


class TransitionData(TypedDict):
    from_step: str  # step name
    action: str  # WorkflowTransition.Action
    to_step: str | None  # step name; None ends the task


class WorkflowData(TypedDict):
    """A workflow definition as the API accepts it; on update any subset of the keys."""

    name: str
    description: NotRequired[str]
    category: str
    sub_category: str
    department: NotRequired[str]
    coordinator_role_id: int
    escalation_role_id: NotRequired[int | None]
    sla_hours: dict[str, float]  # internal priority -> hours
    calendar_id: NotRequired[int | None]  # None: round the clock
    sla_warning_thresholds: NotRequired[list[int]]  # ascending percents
    steps: list[StepData]
    transitions: NotRequired[list[TransitionData]]


SLA_FIELDS = {priority.value: f"sla_{priority.value}" for priority in Priority}
_SCALAR_FIELDS = ("name", "description", "category", "sub_category", "department")
_ROLE_FIELDS = ("coordinator_role_id", "escalation_role_id")
# How the SLA clock runs rather than what the workflow does: may change on a deployed workflow, and its open tasks'
# deadlines are then recomputed.
SLA_POLICY_FIELDS = ("calendar_id", "sla_warning_thresholds")
_STEP_FIELDS = tuple(StepData.__annotations__)  # the model's field names; left out: the model's default


# --- Create / update ---------------------------------------------------------------------------------------------
@transaction.atomic
def workflow_create(*, actor: TokenUser | None, data: WorkflowData) -> Workflow:
    _check_roles_exist(data)
    _check_calendar_exists(data)
    workflow = Workflow(created_by_id=_actor_id(actor))
    _apply_fields(workflow, data)
    workflow.save()
    _replace_graph(workflow, data["steps"], data.get("transitions", []))
    record_events([_workflow_event("workflow.created", workflow, actor)])
    return workflow


def workflow_update(*, workflow_id: int, actor: TokenUser | None, data: dict[str, Any]) -> Workflow:
    """Change a draft; ``data`` holds only the keys to change (PUT sends them all). A deployed or archived
    workflow takes only its SLA policy (:data:`SLA_POLICY_FIELDS`); when that changes, the deadlines of its open
    tasks are recomputed after the change commits (a batch per transaction).

    ``steps`` replaces the whole graph, so it needs ``transitions`` alongside; ``transitions`` alone replaces only
    the transitions, against the current steps.
    """
    with transaction.atomic():
        workflow = _lock(workflow_id)
        if workflow.status != Workflow.Status.DRAFT and not set(data) <= set(SLA_POLICY_FIELDS):
            raise Conflict(
                f"Only a draft can be changed; this workflow is {workflow.status}. Create a new version "
                f"(its {' and '.join(SLA_POLICY_FIELDS)} may change)."
            )
        if "steps" in data and "transitions" not in data:
            raise ValidationError({"transitions": ["Required when steps are replaced."]})
        _check_roles_exist(data)
        _check_calendar_exists(data)
        policy_before = [getattr(workflow, field) for field in SLA_POLICY_FIELDS]
        _apply_fields(workflow, data)
        workflow.save()
        if "steps" in data:
            _replace_graph(workflow, data["steps"], data["transitions"])
        elif "transitions" in data:
            steps = {step.name: step for step in workflow.steps.all()}
            _check_graph(list(steps), [step.order for step in steps.values()], data["transitions"])
            workflow.transitions.all().delete()
            _create_transitions(workflow, steps, data["transitions"])
        record_events([_workflow_event("workflow.updated", workflow, actor, changed=sorted(data))])
    if [getattr(workflow, field) for field in SLA_POLICY_FIELDS] != policy_before:
        recompute_open_tasks(workflow_ids=[workflow.pk], now=timezone.now(), reason=f"workflow {workflow.pk} SLA policy changed")
    return workflow


def _apply_fields(workflow: Workflow, data: dict[str, Any]) -> None:
    for field in _SCALAR_FIELDS:
        if field in data:
            setattr(workflow, field, data[field])
    for field in (*_ROLE_FIELDS, *SLA_POLICY_FIELDS):
        if field in data:
            setattr(workflow, field, data[field])
    if "sla_hours" in data:
        for priority, field in SLA_FIELDS.items():
            setattr(workflow, field, timedelta(hours=data["sla_hours"][priority]))


def _check_calendar_exists(data: dict[str, Any]) -> None:
    calendar_id = data.get("calendar_id")
    if calendar_id is not None and not BusinessCalendar.objects.filter(pk=calendar_id).exists():
        raise ValidationError({"calendar_id": [f"Unknown calendar {calendar_id}."]})


def _check_roles_exist(data: dict[str, Any]) -> None:
    """Unknown role ids are a 400 (not a foreign-key crash); whether they are *active* is checked at deploy."""
    wanted = {step["role_id"] for step in data.get("steps", [])}
    wanted |= {data[field] for field in _ROLE_FIELDS if data.get(field) is not None}
    unknown = wanted - set(RoleReplica.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    if not unknown:
        return
    errors: dict[str, list[str]] = {
        field: [f"Unknown role {data[field]}."] for field in _ROLE_FIELDS if data.get(field) in unknown
    }
    step_errors = [f"Step {s['name']!r}: unknown role {s['role_id']}." for s in data.get("steps", []) if s["role_id"] in unknown]
    if step_errors:
        errors["steps"] = step_errors
    raise ValidationError(errors)


def _replace_graph(workflow: Workflow, steps: list[StepData], transitions: list[TransitionData]) -> None:
    _check_graph([s["name"] for s in steps], [s["order"] for s in steps], transitions)
    workflow.transitions.all().delete()
    workflow.steps.all().delete()
    created = WorkflowStep.objects.bulk_create(
        WorkflowStep(workflow=workflow, **{field: s[field] for field in _STEP_FIELDS if field in s}) for s in steps
    )
    _create_transitions(workflow, {step.name: step for step in created}, transitions)


def _check_graph(names: list[str], orders: list[int], transitions: list[TransitionData]) -> None:
    """The definition's own consistency: what the database constraints would otherwise reject, as a 400."""
    errors: dict[str, list[str]] = defaultdict(list)
    for name in sorted({n for n in names if names.count(n) > 1}):
        errors["steps"].append(f"Duplicate step name {name!r}.")
    for order in sorted({o for o in orders if orders.count(o) > 1}):
        errors["steps"].append(f"Duplicate step order {order}.")
    seen: set[tuple[str, str]] = set()
    for transition in transitions:
        source, action, target = transition["from_step"], transition["action"], transition["to_step"]
        if source not in names:
            errors["transitions"].append(f"Unknown from_step {source!r}.")
        if target is not None and target not in names:
            errors["transitions"].append(f"Unknown to_step {target!r}.")
        if target is None and action == WorkflowTransition.Action.ESCALATE:
            # An escalation hands the task to someone; only approve (completed) and reject (rejected) end it.
            errors["transitions"].append(f"Escalate from {source!r} must lead to a step.")
        if (source, action) in seen:
            errors["transitions"].append(f"More than one {action!r} transition from {source!r}.")
        seen.add((source, action))
    if errors:
        raise ValidationError(dict(errors))


def _create_transitions(
    workflow: Workflow, steps_by_name: dict[str, WorkflowStep], transitions: list[TransitionData]
) -> None:
    WorkflowTransition.objects.bulk_create(
        WorkflowTransition(
            workflow=workflow,
            from_step=steps_by_name[t["from_step"]],
            action=t["action"],
            to_step=steps_by_name[t["to_step"]] if t["to_step"] is not None else None,
        )
        for t in transitions
    )


# --- Deploy / archive / new version ------------------------------------------------------------------------------
def deploy_errors(workflow: Workflow) -> dict[str, list[str]]:
    """Why ``workflow`` cannot run tasks (empty when it can)."""
    steps = list(workflow.steps.select_related("role").order_by("order"))
    if not steps:
        return {"steps": ["A workflow needs at least one step."]}
    errors: dict[str, list[str]] = defaultdict(list)
    edges: dict[int, set[int | None]] = defaultdict(set)
    actions: dict[int, set[str]] = defaultdict(set)
    for transition in workflow.transitions.all():
        edges[transition.from_step_id].add(transition.to_step_id)
        actions[transition.from_step_id].add(transition.action)

    for step in steps:
        if WorkflowTransition.Action.APPROVE not in actions[step.id]:
            # Approving is the normal way forward: without it a task would be stuck at this step.
            errors["transitions"].append(f"Step {step.name!r} has no approve transition.")
    reachable = _reachable(steps[0].id, edges)
    for step in steps:
        if step.id not in reachable:
            errors["transitions"].append(f"Step {step.name!r} is not reachable from the first step {steps[0].name!r}.")
        elif None not in _reachable(step.id, edges):
            errors["transitions"].append(f"No end is reachable from step {step.name!r}.")

    for field in _ROLE_FIELDS:
        role = getattr(workflow, field.removesuffix("_id"))
        if role is not None and not role.is_active:
            errors[field].append(f"Role {role.name!r} is inactive.")
    for step in steps:
        if not step.role.is_active:
            errors["steps"].append(f"Step {step.name!r}: role {step.role.name!r} is inactive.")
    led = set(
        RoleSettings.objects.filter(role_id__in={s.role_id for s in steps}, lead_user__isnull=False).values_list(
            "role_id", flat=True
        )
    )
    for step in steps:
        if step.no_eligible_policy == NoEligiblePolicy.ESCALATE_TO_LEAD and step.role_id not in led:
            errors["steps"].append(
                f"Step {step.name!r}: policy escalate_to_lead needs a lead for role {step.role.name!r} "
                f"(PUT /roles/{step.role_id}/settings/)."
            )
    total = sum((step.sla_weight for step in steps), Decimal(0))
    if total != 100:
        errors["steps"].append(f"SLA weights must sum to 100 (they sum to {total.normalize():f}).")
    return dict(errors)


def _reachable(start: int, edges: dict[int, set[int | None]]) -> set[int | None]:
    """Steps (and ``None``, the end) reachable from ``start``, itself included."""
    seen: set[int | None] = {start}
    queue: deque[int] = deque([start])
    while queue:
        for target in edges[queue.popleft()]:
            if target not in seen:
                seen.add(target)
                if target is not None:
                    queue.append(target)
    return seen


@transaction.atomic
def workflow_deploy(*, workflow_id: int, actor: TokenUser | None) -> Workflow:
    """Deploy a draft; the workflow deployed for the same match so far is archived in the same transaction.

    Tickets kept unrouted for lack of a workflow are routed to it.
    """
    workflow = _lock(workflow_id)
    if workflow.status != Workflow.Status.DRAFT:
        raise Conflict(f"Only a draft can be deployed; this workflow is {workflow.status}.")
    errors = deploy_errors(workflow)
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    replaced = list(
        Workflow.objects.select_for_update().filter(
            status=Workflow.Status.DEPLOYED,
            category=workflow.category,
            sub_category=workflow.sub_category,
            department=workflow.department,
        )
    )
    events = []
    for old in replaced:
        old.status = Workflow.Status.ARCHIVED
        old.save(update_fields=["status"])
        events.append(_workflow_event("workflow.archived", old, actor, replaced_by=workflow.pk))
    workflow.status = Workflow.Status.DEPLOYED
    workflow.deployed_at = now
    try:
        # A concurrent deploy for the same match that committed first trips the one-deployed constraint.
        with transaction.atomic():
            workflow.save(update_fields=["status", "deployed_at"])
    except IntegrityError as exc:
        raise Conflict("Another workflow for this category was deployed at the same time; retry.") from exc
    events.append(_workflow_event("workflow.deployed", workflow, actor, replaced=[old.pk for old in replaced]))
    record_events(events)
    route_unrouted_tickets(workflow)
    return workflow


@transaction.atomic
def workflow_archive(*, workflow_id: int, actor: TokenUser | None) -> Workflow:
    """Retire a workflow: no new tickets are routed to it; tasks already on it run to their end."""
    workflow = _lock(workflow_id)
    if workflow.status == Workflow.Status.ARCHIVED:
        raise Conflict("This workflow is already archived.")
    workflow.status = Workflow.Status.ARCHIVED
    workflow.save(update_fields=["status"])
    record_events([_workflow_event("workflow.archived", workflow, actor)])
    return workflow


@transaction.atomic
def workflow_new_version(*, workflow_id: int, actor: TokenUser | None) -> Workflow:
    """A new draft cloned from ``workflow_id`` with the next version number of its lineage."""
    source = _lock(workflow_id)
    # Locking the lineage serialises concurrent new versions, so each gets a distinct number.
    list(Workflow.objects.select_for_update().filter(lineage=source.lineage).values_list("pk", flat=True))
    version = Workflow.objects.filter(lineage=source.lineage).aggregate(v=Max("version"))["v"] + 1
    clone = Workflow(
        lineage=source.lineage,
        version=version,
        created_by_id=_actor_id(actor),
        **{
            field: getattr(source, field)
            for field in (*_SCALAR_FIELDS, *_ROLE_FIELDS, *SLA_POLICY_FIELDS, *SLA_FIELDS.values())
        },
    )
    clone.save()
    steps = [
        StepData(**{field: getattr(s, field) for field in _STEP_FIELDS})  # type: ignore[typeddict-item]
        for s in source.steps.all()
    ]
    transitions = [
        TransitionData(
            from_step=t.from_step.name, action=t.action, to_step=t.to_step.name if t.to_step is not None else None
        )
        for t in source.transitions.select_related("from_step", "to_step")
    ]
    _replace_graph(clone, steps, transitions)
    record_events([_workflow_event("workflow.created", clone, actor, from_workflow=source.pk, version=version)])
    return clone


# --- Helpers -----------------------------------------------------------------------------------------------------
def _lock(workflow_id: int) -> Workflow:
    workflow = Workflow.objects.select_for_update().filter(pk=workflow_id).first()
    if workflow is None:
        raise NotFound("Workflow not found.")
    return workflow


def _actor_id(actor: TokenUser | None) -> int | None:
    return actor.id if actor is not None else None


def _workflow_event(action: str, workflow: Workflow, actor: TokenUser | None, **data: Any):
    return audit_event(
        action,
        entity_type="workflow",
        entity_id=str(workflow.pk),
        actor_id=_actor_id(actor),
        actor_username=actor.username if actor is not None else "",
        data={"name": workflow.name, "version": workflow.version, "status": workflow.status, **data},
    )
