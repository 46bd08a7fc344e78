"""The impact replay (POST /workflows/{id}/impact/): what would change for recent tickets if a workflow (a draft, or
a workflow with a proposed calendar) were deployed. Reads only: nothing is written, no pointer moves, nothing is
published.

The last tickets received (those that became tasks and those still unrouted) go through the routing simulator
(selectors/simulation.py, intake's own matching, SLA and picks) twice, with the deployed workflows as they are and
with the workflow in place; per ticket, the differences that matter to the help desk are reported: the workflow it
goes to (its lineage: a new version of the same workflow is the same workflow), its first step, its SLA deadline and
the role its first step is assigned to; and per role the tickets it would gain or lose.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from workflow_api.models import RoleReplica, Task, UnroutedTicket, Workflow
from workflow_api.selectors.simulation import Simulation, replay_tickets
from workflow_api.services.ingestion import IncomingTicket, InvalidTicket, checked_ticket

IMPACT_MAX_TICKETS = 1000


def received_tickets(*, limit: int) -> list[IncomingTicket]:
    """The last ``limit`` tickets received, oldest first: those that became tasks (received when their task was
    made) and those kept unrouted. One still fitting intake's checks no longer (its schema changed) is left out."""
    tasks = Task.objects.order_by("-created_at", "-task_id").values_list("external_ticket_id", "ticket_data", "created_at")
    unrouted = UnroutedTicket.objects.filter(routed_at__isnull=True).order_by("-received_at", "-ticket_id")
    rows = [*tasks[:limit], *unrouted.values_list("ticket_id", "payload", "received_at")[:limit]]
    rows.sort(key=lambda row: row[2], reverse=True)
    tickets = []
    for ticket_id, data, received_at in reversed(rows[:limit]):
        try:
            tickets.append(IncomingTicket(ticket_id=ticket_id, data=checked_ticket(data), received_at=received_at))
        except InvalidTicket:
            continue
    return tickets


def _placement(result: Simulation) -> dict[str, Any]:
    """Where a replayed ticket lands: its workflow, first step, deadline and assignee role (all null: unrouted)."""
    workflow, step = result.workflow or {}, result.step or {}
    return {
        "outcome": result.outcome,
        "workflow_id": workflow.get("workflow_id"),
        "workflow_lineage": workflow.get("lineage"),
        "workflow_name": workflow.get("name"),
        "workflow_version": workflow.get("version"),
        "step": step.get("name"),
        "role_id": step.get("role_id"),
        "role_name": step.get("role_name"),
        "sla_deadline": result.sla_deadline,
    }


# What a difference is called, and the placement keys that tell it.
_COMPARED = {
    "workflow": "workflow_lineage",
    "first_step": "step",
    "deadline": "sla_deadline",
    "assignee_role": "role_id",
}


def workflow_impact(workflow: Workflow, *, limit: int, now: datetime) -> dict[str, Any]:
    """The replay of the last ``limit`` tickets with ``workflow`` (loaded by ``workflow_get``; its calendar may be
    replaced by an unsaved one) in place of the deployed version of its own workflow."""
    tickets = received_tickets(limit=limit)
    before = replay_tickets(tickets, now=now)
    after = replay_tickets(tickets, now=now, in_place=workflow)
    changed = []
    load: dict[str, Counter[int]] = {"before": Counter(), "after": Counter()}
    for ticket, old, new in zip(tickets, before, after, strict=True):
        was, will = _placement(old), _placement(new)
        for side, placement in (("before", was), ("after", will)):
            if placement["role_id"] is not None:
                load[side][placement["role_id"]] += 1
        changes = [name for name, key in _COMPARED.items() if was[key] != will[key]]
        if changes:
            changed.append(
                {"ticket_id": ticket.ticket_id, "received_at": ticket.received_at, "changes": changes, "before": was, "after": will}
            )
    role_ids = {role_id for role_id in load["before"] | load["after"] if load["before"][role_id] != load["after"][role_id]}
    names = dict(RoleReplica.objects.filter(pk__in=role_ids).values_list("pk", "name"))
    return {
        "replayed_at": now,
        "workflow_id": workflow.pk,
        "tickets": len(tickets),
        "changed": changed,
        "load": sorted(
            (
                {"role_id": role_id, "role_name": names.get(role_id, ""), "before": load["before"][role_id],
                 "after": load["after"][role_id], "change": load["after"][role_id] - load["before"][role_id]}  # fmt: skip
                for role_id in role_ids
            ),
            key=lambda row: (row["change"], row["role_name"]),
        ),
    }
