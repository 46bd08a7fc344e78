"""Writes of workflow definitions: drafts, deployment (with graph validation), archiving and new versions.

A workflow is editable only as a draft. Deploying freezes it: tasks point at its exact steps, so a later version
(a new draft in the same lineage) never changes tasks already running on an older one.
"""
from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any, NotRequired, TypedDict

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from tts_common.base.errors import Conflict, Invalid, NotFound
from tts_common.http.auth import TokenUser
from workflow_api.models import (
    AuditEvent,
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
def workflow_create(*, actor: TokenUser | None, data: WorkflowData, **event_data: Any) -> Workflow:
    _raise(_reference_problems(data))
    workflow = _build(data, created_by_id=_actor_id(actor))
    record_events([_workflow_event("workflow.created", workflow, actor, **event_data)])
    return workflow


def _build(data: WorkflowData, *, created_by_id: int | None) -> Workflow:
    workflow = Workflow(created_by_id=created_by_id)
    _apply_fields(workflow, data)
    workflow.save()
    _replace_graph(workflow, data["steps"], data.get("transitions", []))
    return workflow


class RevisionConflict(Conflict):
    """A save based on a revision of the draft that is no longer the current one (another admin saved meanwhile)."""

    def __init__(self, workflow: Workflow) -> None:
        super().__init__(
            f"This draft was changed meanwhile (it is at revision {workflow.revision}): reload it and redo the edit.",
            code="stale_revision",
            extra={"revision": workflow.revision},
        )


def workflow_update(
    *, workflow_id: int, actor: TokenUser | None, data: dict[str, Any], revision: int | None = None
) -> Workflow:
    """Change a draft; ``data`` holds only the keys to change (PUT sends them all). A deployed or archived
    workflow takes only its SLA policy (:data:`SLA_POLICY_FIELDS`); when that changes, the deadlines of its open
    tasks are recomputed after the change commits (a batch per transaction).

    ``steps`` replaces the whole graph, so it needs ``transitions`` alongside; ``transitions`` alone replaces only
    the transitions, against the current steps. ``revision``: the revision the edit was made on; another one is a
    :class:`RevisionConflict` (409), never a silent overwrite. Each save moves the revision on by one.
    """
    with transaction.atomic():
        workflow = _lock(workflow_id)
        if revision is not None and revision != workflow.revision:
            raise RevisionConflict(workflow)
        if workflow.status != Workflow.Status.DRAFT and not set(data) <= set(SLA_POLICY_FIELDS):
            raise Conflict(
                f"Only a draft can be changed; this workflow is {workflow.status}. Create a new version "
                f"(its {' and '.join(SLA_POLICY_FIELDS)} may change)."
            )
        if "steps" in data and "transitions" not in data:
            raise Invalid({"transitions": ["Required when steps are replaced."]})
        _raise(_reference_problems(data))
        policy_before = [getattr(workflow, field) for field in SLA_POLICY_FIELDS]
        _apply_fields(workflow, data)
        workflow.revision += 1
        workflow.save()
        if "steps" in data:
            _replace_graph(workflow, data["steps"], data["transitions"])
        elif "transitions" in data:
            steps = {step.name: step for step in workflow.steps.all()}
            _raise(_graph_problems(list(steps), [step.order for step in steps.values()], data["transitions"]))
            workflow.transitions.all().delete()
            _create_transitions(workflow, steps, data["transitions"])
        record_events([_workflow_event("workflow.updated", workflow, actor, changed=sorted(data))])
    if [getattr(workflow, field) for field in SLA_POLICY_FIELDS] != policy_before:
        recompute_open_tasks(workflow_ids=[workflow.pk], now=timezone.now(), reason=f"workflow {workflow.pk} SLA policy changed")
    return workflow


def _apply_fields(workflow: Workflow, data: Mapping[str, Any]) -> None:
    for field in _SCALAR_FIELDS:
        if field in data:
            setattr(workflow, field, data[field])
    for field in (*_ROLE_FIELDS, *SLA_POLICY_FIELDS):
        if field in data:
            setattr(workflow, field, data[field])
    if "sla_hours" in data:
        for priority, field in SLA_FIELDS.items():
            setattr(workflow, field, timedelta(hours=data["sla_hours"][priority]))


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a definition cannot be saved or deployed, keyed by what it is about (``step``: a step's name;
    with ``action`` too: that step's transition) so an editor can show it there."""

    field: str  # the input field it is about: steps, transitions, coordinator_role_id, escalation_role_id, ...
    message: str
    step: str | None = None
    action: str | None = None


def problems_by_field(problems: list[Problem]) -> dict[str, list[str]]:
    """The problems in the API's error shape (field -> messages)."""
    errors: dict[str, list[str]] = defaultdict(list)
    for problem in problems:
        errors[problem.field].append(problem.message)
    return dict(errors)


def _raise(problems: list[Problem]) -> None:
    if problems:
        raise Invalid(problems_by_field(problems))


def _reference_problems(data: Mapping[str, Any]) -> list[Problem]:
    """Unknown role and calendar ids (a 400, not a foreign-key crash); whether roles are *active* is checked at
    deploy."""
    problems = []
    calendar_id = data.get("calendar_id")
    if calendar_id is not None and not BusinessCalendar.objects.filter(pk=calendar_id).exists():
        problems.append(Problem("calendar_id", f"Unknown calendar {calendar_id}."))
    wanted = {step["role_id"] for step in data.get("steps", [])}
    wanted |= {data[field] for field in _ROLE_FIELDS if data.get(field) is not None}
    unknown = wanted - set(RoleReplica.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    problems += [Problem(field, f"Unknown role {data[field]}.") for field in _ROLE_FIELDS if data.get(field) in unknown]
    problems += [
        Problem("steps", f"Step {s['name']!r}: unknown role {s['role_id']}.", step=s["name"])
        for s in data.get("steps", [])
        if s["role_id"] in unknown
    ]
    return problems


def _replace_graph(workflow: Workflow, steps: list[StepData], transitions: list[TransitionData]) -> None:
    _raise(_graph_problems([s["name"] for s in steps], [s["order"] for s in steps], transitions))
    workflow.transitions.all().delete()
    workflow.steps.all().delete()
    created = WorkflowStep.objects.bulk_create(
        WorkflowStep(workflow=workflow, **_step_fields(s)) for s in steps
    )
    _create_transitions(workflow, {step.name: step for step in created}, transitions)


def _step_fields(step: StepData) -> dict[str, Any]:
    """The step's model fields: those it leaves out take the model's default."""
    given: dict[str, Any] = dict(step)
    return {field: given[field] for field in _STEP_FIELDS if field in given}


def _graph_problems(names: list[str], orders: list[int], transitions: list[TransitionData]) -> list[Problem]:
    """The definition's own consistency: what the database constraints would otherwise reject, as a 400."""
    problems = [Problem("steps", f"Duplicate step name {n!r}.", step=n) for n in sorted({n for n in names if names.count(n) > 1})]
    problems += [Problem("steps", f"Duplicate step order {o}.") for o in sorted({o for o in orders if orders.count(o) > 1})]
    seen: set[tuple[str, str]] = set()
    for transition in transitions:
        source, action, target = transition["from_step"], transition["action"], transition["to_step"]
        messages = []
        if source not in names:
            messages.append(f"Unknown from_step {source!r}.")
        if target is not None and target not in names:
            messages.append(f"Unknown to_step {target!r}.")
        if target is None and action == WorkflowTransition.Action.ESCALATE:
            # An escalation hands the task to someone; only approve (completed) and reject (rejected) end it.
            messages.append(f"Escalate from {source!r} must lead to a step.")
        if (source, action) in seen:
            messages.append(f"More than one {action!r} transition from {source!r}.")
        seen.add((source, action))
        problems += [Problem("transitions", message, step=source, action=action) for message in messages]
    return problems


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


# --- Import --------------------------------------------------------------------------------------------------------
def workflow_import(*, actor: TokenUser | None, document: dict[str, Any]) -> Workflow:
    """A new draft (a lineage of its own, version 1) from an exported document (selectors.workflow_document), its
    roles and calendar resolved by name; an unknown or ambiguous name is a 400 naming the field (and step)."""
    steps = document["steps"]
    roles = _ids_by_name(RoleReplica, {s["role"] for s in steps} | {document["coordinator_role"], document["escalation_role"]})
    calendars = _ids_by_name(BusinessCalendar, {document["calendar"]})
    found = {"coordinator_role": roles, "escalation_role": roles, "calendar": calendars}
    problems = [
        Problem(field, why) for field, ids in found.items() if isinstance(why := ids.get(document[field]), str)
    ]
    problems += [
        Problem("steps", f"Step {s['name']!r}: {roles[s['role']]}", step=s["name"])
        for s in steps
        if isinstance(roles[s["role"]], str)
    ]
    _raise(problems)
    data = {key: value for key, value in document.items() if key not in ("format", *found)}
    data.update(
        coordinator_role_id=roles[document["coordinator_role"]],
        escalation_role_id=roles.get(document["escalation_role"]),
        calendar_id=calendars.get(document["calendar"]),
        steps=[{**{k: v for k, v in s.items() if k != "role"}, "role_id": roles[s["role"]]} for s in steps],
    )
    # The document's keys, validated by WorkflowDocumentSerializer, with names resolved to ids: a WorkflowData.
    return workflow_create(actor=actor, data=data, imported=True)  # type: ignore[arg-type]


def _ids_by_name(model: type[RoleReplica | BusinessCalendar], names: set[str | None]) -> dict[str | None, int | str]:
    """Each name's id, or (a string) why there is none."""
    named = {name for name in names if name is not None}
    found: dict[str, list[int]] = defaultdict(list)
    for pk, name in model.objects.filter(name__in=named).values_list("pk", "name"):
        found[name].append(pk)
    kind = "role" if model is RoleReplica else "calendar"
    answers: dict[str | None, int | str] = {}
    for name in named:
        ids = found[name]
        answers[name] = ids[0] if len(ids) == 1 else f"More than one {kind} is named {name!r}." if ids else f"Unknown {kind} {name!r}."
    return answers


# --- Deploy / archive / new version ------------------------------------------------------------------------------
def deploy_problems(workflow: Workflow) -> list[Problem]:
    """Why ``workflow`` cannot run tasks, each problem keyed by its step or transition (empty when it can)."""
    steps = list(workflow.steps.select_related("role").order_by("order"))
    if not steps:
        return [Problem("steps", "A workflow needs at least one step.")]
    problems: list[Problem] = []
    edges: dict[int, set[int | None]] = defaultdict(set)
    actions: dict[int, set[str]] = defaultdict(set)
    for transition in workflow.transitions.all():
        edges[transition.from_step_id].add(transition.to_step_id)
        actions[transition.from_step_id].add(transition.action)

    for step in steps:
        if WorkflowTransition.Action.APPROVE not in actions[step.id]:
            # Approving is the normal way forward: without it a task would be stuck at this step.
            problems.append(Problem("transitions", f"Step {step.name!r} has no approve transition.", step=step.name))
    reachable = _reachable(steps[0].id, edges)
    for step in steps:
        if step.id not in reachable:
            message = f"Step {step.name!r} is not reachable from the first step {steps[0].name!r}."
            problems.append(Problem("transitions", message, step=step.name))
        elif None not in _reachable(step.id, edges):
            problems.append(Problem("transitions", f"No end is reachable from step {step.name!r}.", step=step.name))

    for field in _ROLE_FIELDS:
        role = getattr(workflow, field.removesuffix("_id"))
        if role is not None and not role.is_active:
            problems.append(Problem(field, f"Role {role.name!r} is inactive."))
    for step in steps:
        if not step.role.is_active:
            problems.append(Problem("steps", f"Step {step.name!r}: role {step.role.name!r} is inactive.", step=step.name))
    led = set(
        RoleSettings.objects.filter(role_id__in={s.role_id for s in steps}, lead_user__isnull=False).values_list(
            "role_id", flat=True
        )
    )
    for step in steps:
        if step.no_eligible_policy == NoEligiblePolicy.ESCALATE_TO_LEAD and step.role_id not in led:
            message = (
                f"Step {step.name!r}: policy escalate_to_lead needs a lead for role {step.role.name!r} "
                f"(PUT /roles/{step.role_id}/settings/)."
            )
            problems.append(Problem("steps", message, step=step.name))
    total = sum((step.sla_weight for step in steps), Decimal(0))
    if total != 100:
        problems.append(Problem("steps", f"SLA weights must sum to 100 (they sum to {total.normalize():f})."))
    return problems


def workflow_check(*, data: WorkflowData) -> list[Problem]:
    """Every problem that would stop the whole definition ``data`` from being saved, then deployed (empty: none).
    Nothing is stored: the draft is built as a save would build it, checked as deploy checks it, and rolled back."""
    problems = _reference_problems(data)
    problems += _graph_problems(
        [s["name"] for s in data["steps"]], [s["order"] for s in data["steps"]], data.get("transitions", [])
    )
    if problems:
        return problems  # the draft could not even be saved
    with transaction.atomic():
        problems = deploy_problems(_build(data, created_by_id=None))
        transaction.set_rollback(True)
    return problems


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
    _raise(deploy_problems(workflow))
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
        StepData(
            name=s.name, order=s.order, role_id=s.role_id, sla_weight=s.sla_weight,
            assignment_strategy=s.assignment_strategy, no_eligible_policy=s.no_eligible_policy,
            external_action=s.external_action,
        )  # fmt: skip
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


def _workflow_event(action: str, workflow: Workflow, actor: TokenUser | None, **data: Any) -> AuditEvent:
    return audit_event(
        action,
        entity_type="workflow",
        entity_id=str(workflow.pk),
        actor_id=_actor_id(actor),
        actor_username=actor.username if actor is not None else "",
        data={
            "name": workflow.name, "version": workflow.version, "revision": workflow.revision,
            "status": workflow.status, **data,
        },  # fmt: skip
    )
