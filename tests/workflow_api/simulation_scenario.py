"""A varied intake scenario for the routing simulator, and the check that a prediction is what ingestion did.

Shared by the in-process tests (tests/workflow_api/test_simulation.py) and the real-stack Done-when test
(tests/workflow_api/test_simulation_stack.py).
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone

from tests.workflow_api.factories import TaskFactory, UserRoleFactory, deployed_workflow, role_with_users
from workflow_api.models import (
    AssignmentDecision,
    AssignmentStrategy,
    NoEligiblePolicy,
    RoleSettings,
    StepInstance,
    Task,
    UnroutedTicket,
    WorkflowStep,
)
from workflow_api.services.availability import availability_set

KEYS = [  # (category, sub_category, department): several workflows, the department refinement, unrouted keys
    ("IT Support", "Network", ""),
    ("IT Support", "Network", "Finance"),  # the Finance-only workflow
    ("IT Support", "Network", "Sales"),  # no Sales workflow: the any-department one
    ("HR", "Leave", ""),
    ("HR", "Payroll", "Finance"),
    ("Facilities", "Desk", ""),
    ("Facilities", "Parking", ""),  # nothing deployed: unrouted
    ("IT Support", "Network", "Finance"),
]
PRIORITIES = ["low", "medium", "high", "urgent"]
EXISTING_TICKET = "EXISTING-1"  # has a task before the run: skipped


def set_availability(user_id: int, status: str, **fields: Any) -> None:
    data = {"status": status, "away_from": None, "away_until": None, "reason": "", "max_open_tasks": None}
    availability_set(user_id=user_id, data=data | fields, actor=None)


def build_scenario() -> dict[str, Any]:
    """Workflows over roles with every strategy and no-eligible policy, away users, a capped user, a role that
    both owns tasks (coordinators, round-robin) and works them (least-loaded), and some load already."""
    coordinators, coordinator_users = role_with_users(2, name="Coordinators")
    agents, agent_users = role_with_users(4, name="Agents")
    analysts, analyst_users = role_with_users(3, name="Analysts")
    hr, hr_users = role_with_users(2, name="HR")
    payroll, payroll_users = role_with_users(3, name="Payroll")
    facilities, facility_users = role_with_users(1, name="Facilities")
    UserRoleFactory(user=agent_users[0], role=analysts)  # one user in two roles: their load is shared
    agent_ids = sorted(u.user_id for u in agent_users)
    set_availability(agent_ids[1], "away")
    set_availability(agent_ids[2], "active", max_open_tasks=3)
    TaskFactory(assigned_user_id=agent_ids[2], status=Task.Status.IN_PROGRESS)
    for user in hr_users:  # nobody eligible: the lead takes it
        set_availability(user.user_id, "away")
    RoleSettings.objects.create(role=hr, lead_user=hr_users[1], updated_at=timezone.now())
    for user in payroll_users[:2]:  # nobody eligible: the least-loaded away user takes it
        set_availability(user.user_id, "away")
    set_availability(payroll_users[2].user_id, "unavailable")
    TaskFactory(assigned_user_id=payroll_users[0].user_id, status=Task.Status.IN_PROGRESS)
    set_availability(facility_users[0].user_id, "away")  # nobody eligible: held
    for user in analyst_users[:2]:
        TaskFactory(assigned_user_id=user.user_id, status=Task.Status.IN_PROGRESS)

    network = deployed_workflow(
        step_roles=[agents, analysts], coordinator_role=coordinators, category="IT Support", sub_category="Network"
    )
    finance = deployed_workflow(
        step_roles=[analysts], coordinator_role=agents, category="IT Support", sub_category="Network", department="Finance",
        sla_high=timedelta(hours=8),
    )  # fmt: skip
    leave = deployed_workflow(step_roles=[hr], coordinator_role=coordinators, category="HR", sub_category="Leave")
    payroll_flow = deployed_workflow(step_roles=[payroll, hr], coordinator_role=agents, category="HR", sub_category="Payroll")
    desk = deployed_workflow(step_roles=[facilities], coordinator_role=coordinators, category="Facilities", sub_category="Desk")
    WorkflowStep.objects.filter(workflow=finance, order=1).update(assignment_strategy=AssignmentStrategy.LEAST_LOADED)
    WorkflowStep.objects.filter(workflow=leave, order=1).update(no_eligible_policy=NoEligiblePolicy.ESCALATE_TO_LEAD)
    WorkflowStep.objects.filter(workflow=payroll_flow, order=1).update(
        assignment_strategy=AssignmentStrategy.LEAST_LOADED, no_eligible_policy=NoEligiblePolicy.LEAST_LOADED_AWAY
    )
    TaskFactory(workflow=network, external_ticket_id=EXISTING_TICKET, status=Task.Status.PENDING)
    return {"workflows": [network, finance, leave, payroll_flow, desk], "coordinators": coordinator_users}


def scenario_tickets(count: int = 50, *, prefix: str = "SIM") -> list[Any]:
    """``count`` tickets over :data:`KEYS` and the priorities; some invalid, some without a created_at, one
    repeated later in the list."""
    base = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    tickets: list[Any] = []
    for i in range(count):
        category, sub_category, department = KEYS[i % len(KEYS)]
        data: dict[str, Any] = {
            "ticket_id": f"{prefix}-{i}",
            "title": f"Ticket {i}",
            "category": category,
            "sub_category": sub_category,
            "priority": PRIORITIES[(i // 3) % len(PRIORITIES)],
            "requester_email": "someone@example.com",
            "department": department or None,
        }
        if i % 5:
            data["created_at"] = (base + timedelta(minutes=17 * i)).isoformat().replace("+00:00", "Z")
        if i % 11 == 10:
            del data["title"]  # invalid: dead-lettered
        if i % 13 == 12:
            data["priority"] = "critical"  # invalid
        tickets.append(data)
    tickets[count - 1] = dict(tickets[1])  # a resend of an earlier ticket: skipped
    tickets[count - 2] = {**tickets[0], "ticket_id": EXISTING_TICKET}
    return tickets


def assert_prediction_is_what_happened(results: list[dict[str, Any]], dead_letters: dict[str, str]) -> None:
    """Every prediction (API JSON) against the database after ingestion: the task's workflow, deadline, step, its
    due time (relative to entering the step), assignee and owner and the stored decision; unrouted tickets kept;
    dead letters with the predicted reason (``dead_letters``: ticket id → reason)."""
    for result in results:
        ticket_id, outcome = result["ticket_id"], result["outcome"]
        context = f"#{result['index']} {ticket_id}: {result['explanation']}"
        if outcome == "dead_letter":
            assert dead_letters.get(ticket_id) == result["dead_letter_reason"], context
            assert not Task.objects.filter(external_ticket_id=ticket_id).exists(), context
            continue
        if outcome == "unrouted":
            assert UnroutedTicket.objects.filter(ticket_id=ticket_id, routed_at__isnull=True).exists(), context
            assert not Task.objects.filter(external_ticket_id=ticket_id).exists(), context
            continue
        if outcome == "duplicate":
            assert Task.objects.filter(external_ticket_id=ticket_id).count() == 1, context
            continue
        task = Task.objects.get(external_ticket_id=ticket_id)
        instance = StepInstance.objects.get(task=task)
        decision = AssignmentDecision.objects.get(task=task)
        step, assignment, owner = result["step"], result["assignment"], result["owner"]
        assert task.workflow_id == result["workflow"]["workflow_id"], context
        assert task.priority == result["priority"]["internal"], context
        # The SLA runs from the ticket's created_at, else from its receipt (not known before it is received).
        predicted_span = datetime.fromisoformat(result["sla_deadline"]) - datetime.fromisoformat(result["created_at"])
        assert task.sla_deadline - task.ticket_created_at == predicted_span, context
        if "created_at" in (task.ticket_data or {}) and task.ticket_data["created_at"]:
            assert task.sla_deadline == datetime.fromisoformat(result["sla_deadline"]), context
        assert instance.step_id == task.current_step_id == step["step_id"], context
        assert (instance.due_at - instance.started_at).total_seconds() == step["due_in_seconds"], context
        assert task.assigned_user_id == assignment["user_id"], context
        assert task.owner_id == owner["user_id"], context
        stored = {
            "role_id": decision.role_id, "sequence": decision.sequence, "strategy": decision.strategy,
            "policy": decision.policy, "candidates": decision.candidates, "filters": decision.filters,
            "detail": decision.detail, "cursor_before": decision.cursor_before, "cursor_after": decision.cursor_after,
            "user_id": decision.user_id, "outcome": decision.outcome,
        }  # fmt: skip
        assert stored == {key: assignment[key] for key in stored}, context
