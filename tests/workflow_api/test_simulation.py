"""The routing simulator (selectors/simulation.py, POST /simulate/): its answers, their explanations, that a
dry run changes nothing, and that ingesting the same tickets then does what it predicted."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.apps import apps
from django.utils import timezone
from rest_framework.test import APIClient

from tests.workflow_api.factories import (
    TaskFactory,
    api_client,
    deployed_workflow,
    ingested_task,
    role_with_users,
    two_step_setup,
)
from tests.workflow_api.simulation_scenario import (
    assert_prediction_is_what_happened,
    build_scenario,
    scenario_tickets,
    set_availability,
)
from workflow_api.models import NoEligiblePolicy, RoleSettings, RoundRobinCursor, WorkflowStep
from workflow_api.selectors.simulation import Outcome, simulate_tickets
from workflow_api.services.ingestion import InvalidTicket, ingest_tickets, parse_ticket

pytestmark = pytest.mark.django_db


def _ticket(ticket_id: str = "T-1", **fields: Any) -> dict[str, Any]:
    return {"ticket_id": ticket_id, "title": "Printer", "category": "IT Support", "sub_category": "Network",
            "priority": "medium", **fields}  # fmt: skip


def _simulate(*tickets: Any):
    return simulate_tickets(list(tickets), now=timezone.now())


def _ids(users) -> list[int]:
    return sorted(u.user_id for u in users)


def test_a_routed_ticket_gets_workflow_deadline_step_assignee_and_owner_with_reasons():
    workflow, people = two_step_setup()
    [result] = _simulate(_ticket(created_at="2026-11-30T09:00:00Z"))
    assert result.outcome == Outcome.TASK
    assert result.workflow["workflow_id"] == workflow.pk
    assert result.priority == {"hdts": "medium", "internal": "high"}
    assert result.sla_deadline == datetime(2026, 11, 30, 9, tzinfo=UTC) + workflow.sla_high
    first = workflow.steps.get(order=1)
    assert result.step["step_id"] == first.pk
    assert result.step["due_in_seconds"] == (workflow.sla_high * 0.5).total_seconds()
    agents = _ids(people["agents"])
    assert result.assignment["candidates"] == agents
    assert (result.assignment["user_id"], result.assignment["cursor_before"], result.assignment["cursor_after"]) == (
        agents[0], None, agents[0]
    )
    assert result.assignment["outcome"] == "assigned" and result.assignment["strategy"] == "round_robin"
    assert result.owner["user_id"] == _ids(people["coordinators"])[0]
    assert result.match["candidates"] == [
        {"workflow_id": workflow.pk, "name": workflow.name, "department": "", "department_matches": True}
    ]
    assert any("Assignee: user" in line for line in result.explanation)


def test_an_invalid_ticket_would_be_dead_lettered_with_the_reason_intake_gives():
    bad = {k: v for k, v in _ticket().items() if k != "title"}
    results = _simulate(bad, "not a ticket", _ticket(priority="critical"))
    assert [r.outcome for r in results] == [Outcome.DEAD_LETTER] * 3
    for data, result in zip([bad, "not a ticket", _ticket(priority="critical")], results, strict=True):
        with pytest.raises(InvalidTicket) as raised:
            parse_ticket(data, received_at=timezone.now())
        assert result.dead_letter_reason == str(raised.value)
    assert results[0].dead_letter_reason == "validation: title: This field is required."


def test_a_deployed_hdts_ticket_is_simulated_as_intake_maps_it():
    workflow, _ = two_step_setup()
    deployed = {
        "ticket_number": "TX20261204123456", "subject": "VPN down", "category": "IT Support", "sub_category": "Network",
        "priority": "Critical", "submit_date": "2026-11-30T17:00:00+08:00", "employee_email": "ana@example.com",
    }  # fmt: skip
    [result, bad] = _simulate(deployed, {**deployed, "ticket_number": "TX2", "subject": ""})
    assert (result.outcome, result.ticket_id, result.workflow["workflow_id"]) == (Outcome.TASK, "TX20261204123456", workflow.pk)
    assert result.priority == {"hdts": "urgent", "internal": "urgent"}
    assert result.sla_deadline == datetime(2026, 11, 30, 9, tzinfo=UTC) + workflow.sla_urgent
    assert (bad.outcome, bad.dead_letter_reason) == (Outcome.DEAD_LETTER, "validation: subject: This field may not be blank.")


def test_unrouted_and_department_refinement_are_explained():
    coordinators, _ = role_with_users(1)
    agents, _ = role_with_users(1)
    general = deployed_workflow(step_roles=[agents], coordinator_role=coordinators, category="IT Support", sub_category="Network")
    finance = deployed_workflow(
        step_roles=[agents], coordinator_role=coordinators, category="IT Support", sub_category="Network", department="Finance"
    )
    fin, sales, none = _simulate(
        _ticket("A", department="Finance"), _ticket("B", department="Sales"), _ticket("C", sub_category="Email")
    )
    assert fin.workflow["workflow_id"] == finance.pk and fin.match["department_refined"] is True
    assert [c["department_matches"] for c in fin.match["candidates"]] == [True, True]
    assert sales.workflow["workflow_id"] == general.pk and sales.match["department_refined"] is False
    assert [c["department_matches"] for c in sales.match["candidates"]] == [True, False]
    assert none.outcome == Outcome.UNROUTED and none.match["candidates"] == [] and none.assignment is None
    assert "unrouted" in none.explanation[0]


def test_a_known_ticket_is_a_duplicate_showing_its_task_and_a_repeat_in_the_list_too():
    two_step_setup()
    task = ingested_task("T-1")
    known, first, repeat = _simulate(_ticket("T-1"), _ticket("T-2"), _ticket("T-2"))
    assert known.outcome == Outcome.DUPLICATE and known.existing_task["task_id"] == str(task.task_id)
    assert first.outcome == Outcome.TASK
    assert repeat.outcome == Outcome.DUPLICATE and "#1" in repeat.explanation[0]


def test_a_sequence_advances_the_simulated_pointer_and_the_real_one_stays():
    _, people = two_step_setup()
    ingested_task("T-0")  # the pointer now exists and has moved once
    cursors = list(RoundRobinCursor.objects.order_by("role_id").values_list("role_id", "last_user_id", "sequence"))
    agents = _ids(people["agents"])
    results = _simulate(*(_ticket(f"T-{i}") for i in range(1, 5)))
    assert [r.assignment["user_id"] for r in results] == [agents[1], agents[2], agents[0], agents[1]]
    assert [r.assignment["cursor_before"] for r in results] == [agents[0], agents[1], agents[2], agents[0]]
    assert [r.assignment["sequence"] for r in results] == [2, 3, 4, 5]
    assert list(RoundRobinCursor.objects.order_by("role_id").values_list("role_id", "last_user_id", "sequence")) == cursors


def test_least_loaded_capacity_and_away_users_are_predicted():
    coordinators, _ = role_with_users(1)
    agents, users = role_with_users(3)
    ids = _ids(users)
    workflow = deployed_workflow(step_roles=[agents], coordinator_role=coordinators, category="IT Support", sub_category="Network")
    WorkflowStep.objects.filter(workflow=workflow).update(assignment_strategy="least_loaded")
    TaskFactory(assigned_user_id=ids[0])
    set_availability(ids[1], "away")
    set_availability(ids[2], "active", max_open_tasks=1)
    results = _simulate(*(_ticket(f"T-{i}") for i in range(3)))
    assert [r.assignment["user_id"] for r in results] == [ids[2], ids[0], ids[0]]
    assert results[0].assignment["detail"] == {"loads": {str(ids[0]): 1, str(ids[2]): 0}}
    assert results[0].assignment["filters"][3] == {"filter": "away", "removed": [ids[1]]}
    assert results[1].assignment["filters"][4] == {"filter": "capacity", "removed": [ids[2]]}


@pytest.mark.parametrize(
    ("policy", "outcome"),
    [
        (NoEligiblePolicy.HOLD, "held"),
        (NoEligiblePolicy.ESCALATE_TO_LEAD, "escalated_to_lead"),
        (NoEligiblePolicy.LEAST_LOADED_AWAY, "least_loaded_away"),
    ],
)
def test_each_no_eligible_policy_is_predicted(policy, outcome):
    coordinators, _ = role_with_users(1)
    agents, users = role_with_users(2)
    workflow = deployed_workflow(step_roles=[agents], coordinator_role=coordinators, category="IT Support", sub_category="Network")
    WorkflowStep.objects.filter(workflow=workflow).update(no_eligible_policy=policy)
    RoleSettings.objects.create(role=agents, lead_user=users[1], updated_at=timezone.now())
    for user in users:
        set_availability(user.user_id, "away")
    [result] = _simulate(_ticket())
    assert (result.assignment["outcome"], result.assignment["policy"]) == (outcome, policy)
    assert (result.assignment["user_id"] is None) == (outcome == "held")


def _state() -> dict[str, Any]:
    """Every workflow_api row, and the pointers' values."""
    counts = {model.__name__: model.objects.count() for model in apps.get_app_config("workflow_api").get_models()}
    return {**counts, "cursors": list(RoundRobinCursor.objects.order_by("role_id").values_list())}


@pytest.mark.parametrize("batches", [1, 3], ids=["one-batch", "three-batches"])
def test_ingestion_does_what_the_simulation_of_the_same_list_predicted(batches, django_capture_on_commit_callbacks):
    build_scenario()
    tickets = scenario_tickets(50)
    before = _state()
    response = api_client(is_admin=True).post("/simulate/", {"tickets": tickets}, format="json")
    assert response.status_code == 200, response.json()
    assert _state() == before
    results = response.json()["results"]
    assert {r["outcome"] for r in results} == {"task", "dead_letter", "unrouted", "duplicate"}
    assert {r["assignment"]["outcome"] for r in results if r["assignment"]} == {
        "assigned", "held", "escalated_to_lead", "least_loaded_away"
    }  # fmt: skip
    dead_letters = {}
    valid = []
    for data in tickets:
        try:
            valid.append(parse_ticket(data, received_at=timezone.now()))
        except InvalidTicket as exc:
            dead_letters[data["ticket_id"]] = str(exc)
    size = -(-len(valid) // batches)
    with django_capture_on_commit_callbacks(execute=False):
        for start in range(0, len(valid), size):
            ingest_tickets(valid[start : start + size])
    assert_prediction_is_what_happened(results, dead_letters)


def test_the_api_answers_admins_only_and_rejects_a_malformed_body():
    assert api_client(role_with_users(1)[1][0]).post("/simulate/", _ticket(), format="json").status_code == 403
    assert APIClient().post("/simulate/", _ticket(), format="json").status_code == 401
    admin = api_client(is_admin=True)
    for body, field in [({"tickets": []}, "tickets"), ({"tickets": "x"}, "tickets"), ([1, 2], "non_field_errors")]:
        response = admin.post("/simulate/", body, format="json")
        assert response.status_code == 400 and field in response.json()["errors"], response.json()
    response = admin.post("/simulate/", {"tickets": [_ticket(f"T-{i}") for i in range(101)]}, format="json")
    assert response.status_code == 400 and "tickets" in response.json()["errors"]
    one = admin.post("/simulate/", "not a ticket", format="json")
    assert one.status_code == 400


def test_a_bare_ticket_gets_one_answer_and_nothing_changes_or_is_published(django_capture_on_commit_callbacks):
    two_step_setup()
    ingested_task("T-0")
    before = _state()
    with django_capture_on_commit_callbacks() as published:
        response = api_client(is_admin=True).post("/simulate/", _ticket("T-1", department="Sales"), format="json")
    assert response.status_code == 200
    [result] = response.json()["results"]
    assert result["outcome"] == "task" and result["owner"]["username"]
    assert published == []
    assert _state() == before


def test_the_openapi_schema_documents_the_simulator():
    response = api_client(is_admin=True).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    operation = response.json()["paths"]["/simulate/"]["post"]
    assert "200" in operation["responses"] and "requestBody" in operation
