"""The routing simulator: what intake would do with tickets, and why, without changing anything (reads only).

Each ticket goes through the steps of intake (services/ingestion.py) with the same functions: the schema check
(an invalid ticket is dead-lettered with the same reason), a known ticket is skipped, the workflow match (none:
the ticket is kept as unrouted), the SLA deadline and the first step's due time (services/steps.py), and the
assignee's and owner's picks (services/assignment.py: the same inputs and the same pure ``pick``), made on copies
of the round-robin pointers and of the loads. Tickets are simulated in order, each pick moving the copies on, so a
list predicts what ingesting it in that order does: intake makes its picks in ticket order whatever the batching.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings

from tts_common.base import hdts, hdts_deployed
from workflow_api.models import RoundRobinCursor, Task, UnroutedTicket, UserReplica, Workflow
from workflow_api.services.assignment import Decision, pick, pick_inputs
from workflow_api.services.deadlines import task_deadline
from workflow_api.services.ingestion import (
    IncomingTicket,
    InvalidTicket,
    Route,
    checked_ticket,
    match_workflows,
    pick_keys,
)
from workflow_api.services.steps import step_due_at


class Outcome:
    TASK = "task"  # a task would be created
    DEAD_LETTER = "dead_letter"  # invalid: dead-lettered, never retried
    DUPLICATE = "duplicate"  # the ticket already has a task (or comes earlier in the list): skipped
    UNROUTED = "unrouted"  # no deployed workflow matches: kept until one is deployed


@dataclass
class Simulation:
    """What intake would do with one ticket; ``explanation`` says why in words, the other fields in data."""

    index: int
    ticket_id: str | None
    outcome: str
    explanation: list[str] = field(default_factory=list)
    dead_letter_reason: str = ""
    match: dict[str, Any] | None = None
    existing_task: dict[str, Any] | None = None
    workflow: dict[str, Any] | None = None
    priority: dict[str, str] | None = None
    created_at: datetime | None = None
    sla_deadline: datetime | None = None
    step: dict[str, Any] | None = None
    assignment: dict[str, Any] | None = None
    owner: dict[str, Any] | None = None


def _ticket_id(ticket: Any) -> str | None:
    value = hdts_deployed.message_ticket_id({"ticket_data": ticket})
    return value if isinstance(value, str) else None


def _match_explanation(ticket: IncomingTicket, route: Route | None) -> dict[str, Any]:
    category, sub_category, department = ticket.match_key
    candidates = Workflow.objects.filter(
        status=Workflow.Status.DEPLOYED, category=category, sub_category=sub_category
    ).order_by("department", "pk")
    return {
        "category": category,
        "sub_category": sub_category,
        "department": department,
        "candidates": [
            {
                "workflow_id": workflow.pk,
                "name": workflow.name,
                "department": workflow.department,
                "department_matches": workflow.department in ("", department),
            }
            for workflow in candidates
        ],
        "department_refined": route is not None and route.workflow.department != "",
        "workflow_id": route.workflow.pk if route else None,
    }


def _decision_data(decision: Decision, usernames: dict[int, str]) -> dict[str, Any]:
    """A decision in the shape of a stored ``AssignmentDecision`` (plus the chosen user's name)."""
    return {
        "role_id": decision.role_id,
        "sequence": decision.sequence,
        "strategy": decision.strategy,
        "policy": decision.policy,
        "candidates": decision.candidates,
        "filters": decision.filters,
        "detail": decision.detail,
        "cursor_before": decision.cursor_before,
        "cursor_after": decision.cursor_after,
        "user_id": decision.user_id,
        "username": usernames.get(decision.user_id, "") if decision.user_id is not None else "",
        "outcome": decision.outcome,
    }


def _user(user_id: int | None) -> str:
    return "none" if user_id is None else str(user_id)


def _describe_pick(what: str, decision: Decision, usernames: dict[int, str]) -> str:
    who = f"user {decision.user_id} ({usernames.get(decision.user_id, '?')})" if decision.user_id else "nobody"
    removed = [f"{entry['filter']}: {entry['removed']}" for entry in decision.filters if entry["removed"]]
    filters = f"; filtered out {', '.join(removed)}" if removed else ""
    return (
        f"{what}: {who} — {decision.outcome} by {decision.strategy}"
        + (f" (no-eligible policy {decision.policy})" if decision.policy else "")
        + f" among candidates {decision.candidates}{filters}; pointer {_user(decision.cursor_before)} → "
        f"{_user(decision.cursor_after)}."
    )


def simulate_tickets(tickets: Sequence[Any], *, now: datetime) -> list[Simulation]:
    """What ingesting ``tickets`` (HDTS ticket payloads) in this order at ``now`` would do, ticket by ticket.

    Signatures are not checked (a dry run is not an HDTS message); everything else is checked as intake does.
    """
    results: list[Simulation] = []
    routed: list[tuple[Simulation, IncomingTicket, Route]] = []
    valid: list[tuple[Simulation, IncomingTicket]] = []
    seen: dict[str, int] = {}
    for index, data in enumerate(tickets):
        result = Simulation(index=index, ticket_id=_ticket_id(data), outcome=Outcome.TASK)
        results.append(result)
        try:
            data = checked_ticket(data)
        except InvalidTicket as exc:
            result.outcome, result.dead_letter_reason = Outcome.DEAD_LETTER, str(exc)
            result.explanation.append(f"Invalid ticket: it would be dead-lettered ({exc}).")
            continue
        if data["ticket_id"] in seen:
            result.outcome = Outcome.DUPLICATE
            result.explanation.append(
                f"Ticket {data['ticket_id']!r} comes earlier in this list (#{seen[data['ticket_id']]}): skipped."
            )
            continue
        seen[data["ticket_id"]] = index
        valid.append((result, IncomingTicket(ticket_id=data["ticket_id"], data=data, received_at=now)))
    existing = {
        task.external_ticket_id: task
        for task in Task.objects.filter(external_ticket_id__in=[t.ticket_id for _, t in valid])
    }
    waiting = set(
        UnroutedTicket.objects.filter(ticket_id__in=[t.ticket_id for _, t in valid], routed_at__isnull=True).values_list(
            "ticket_id", flat=True
        )
    )
    routes = match_workflows(ticket.match_key for _, ticket in valid)
    for result, ticket in valid:
        task = existing.get(ticket.ticket_id)
        if task is not None:
            result.outcome = Outcome.DUPLICATE
            result.existing_task = {
                "task_id": str(task.task_id), "status": task.status, "workflow_id": task.workflow_id,
                "assigned_user_id": task.assigned_user_id, "created_at": task.created_at,
            }  # fmt: skip
            result.explanation.append(f"Ticket {ticket.ticket_id!r} already has task {task.task_id}: skipped.")
            continue
        route = routes[ticket.match_key]
        result.match = _match_explanation(ticket, route)
        if route is None:
            result.outcome = Outcome.UNROUTED
            result.explanation.append(
                "No deployed workflow (with a step) matches category {!r}, sub-category {!r}{}: the ticket would be "
                "kept as unrouted until one is deployed{}.".format(
                    *ticket.match_key[:2],
                    f", department {ticket.match_key[2]!r} or any department" if ticket.match_key[2] else "",
                    " (it already waits there)" if ticket.ticket_id in waiting else "",
                )
            )
            continue
        routed.append((result, ticket, route))
    _simulate_tasks(routed, now=now)
    return results


def replay_tickets(
    tickets: Sequence[IncomingTicket], *, now: datetime, in_place: Workflow | None = None
) -> list[Simulation]:
    """What intake would do with tickets already received (the impact replay), in this order at ``now``: their
    match, SLA deadline, first step and picks, as :func:`simulate_tickets` predicts them, whether or not they already
    have a task; ``in_place``: a workflow taken as deployed (see :func:`match_workflows`)."""
    results = [Simulation(index=i, ticket_id=t.ticket_id, outcome=Outcome.TASK) for i, t in enumerate(tickets)]
    routes = match_workflows((ticket.match_key for ticket in tickets), in_place=in_place)
    routed = []
    for result, ticket in zip(results, tickets, strict=True):
        route = routes[ticket.match_key]
        if route is None:
            result.outcome = Outcome.UNROUTED
        else:
            routed.append((result, ticket, route))
    _simulate_tasks(routed, now=now)
    return results


def _simulate_tasks(routed: Sequence[tuple[Simulation, IncomingTicket, Route]], *, now: datetime) -> None:
    """Workflow, SLA, first step and picks of the routed tickets, as intake's ``_create_tasks`` makes them."""
    if not routed:
        return
    keys = pick_keys(route for _, _, route in routed)
    role_ids = {role_id for role_id, _ in keys}
    # Copies of the pointers: read without locking, moved on in memory only (never saved).
    cursors = {role_id: RoundRobinCursor(role_id=role_id, last_user_id=None, sequence=0) for role_id in role_ids}
    for cursor in RoundRobinCursor.objects.filter(role_id__in=role_ids):
        cursors[cursor.role_id] = cursor
    inputs = pick_inputs(keys, now=now)
    made = iter([pick(role_id, rule, cursors[role_id], inputs) for role_id, rule in keys])
    picks = list(zip(made, made, strict=True))
    usernames = dict(
        UserReplica.objects.filter(pk__in={d.user_id for pair in picks for d in pair if d.user_id}).values_list(
            "pk", "username"
        )
    )
    priority_map = dict(hdts.PRIORITY_MAP)
    for (result, ticket, route), (assignment, owner) in zip(routed, picks, strict=True):
        workflow, step = route.workflow, route.first_step
        priority = priority_map[ticket.data["priority"]]
        result.workflow = {
            "workflow_id": workflow.pk, "lineage": str(workflow.lineage), "name": workflow.name, "version": workflow.version,
            "department": workflow.department, "coordinator_role_id": workflow.coordinator_role_id,
        }  # fmt: skip
        result.priority = {"hdts": ticket.data["priority"], "internal": priority}
        result.created_at = ticket.created_at
        result.sla_deadline = task_deadline(workflow, priority, ticket.created_at)
        due_at = step_due_at(step, priority, now=now)
        result.step = {
            "step_id": step.pk, "name": step.name, "role_id": step.role_id, "role_name": step.role.name,
            "sla_weight": str(step.sla_weight), "due_at": due_at, "due_in_seconds": (due_at - now).total_seconds(),
        }  # fmt: skip
        result.assignment = _decision_data(assignment, usernames)
        result.owner = _decision_data(owner, usernames)
        result.explanation += [
            f"Workflow {workflow.name!r} (#{workflow.pk})"
            + (f", for department {workflow.department!r} (preferred to any-department workflows)"
               if workflow.department else ", for any department")
            + f", matches category {ticket.match_key[0]!r} / {ticket.match_key[1]!r}.",
            f"Priority {ticket.data['priority']} (HDTS) is {priority} here; SLA deadline "
            f"{result.sla_deadline.isoformat()} (from {'the ticket' if ticket.data.get('created_at') else 'receipt'}"
            f" at {ticket.created_at.isoformat()}).",
            f"First step {step.name!r} (role {step.role.name!r}), due {due_at.isoformat()} if ingested now.",
            _describe_pick("Assignee", assignment, usernames),
            _describe_pick("Owner (coordinator)", owner, usernames),
        ]
        if settings.HDTS_SIGNING_SECRET:
            result.explanation.append("The HDTS signature is not checked by the simulator.")
