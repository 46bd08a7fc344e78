"""The assignment API: availability (own and admins'), the agent list, role settings, fairness, decisions on the
task and step rules in workflow definitions."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.workflow_api.factories import (
    UserFactory,
    api_client,
    deployed_workflow,
    ingested_task,
    role_with_users,
)
from tests.workflow_api.test_workflows_api import definition
from workflow_api.models import AgentAvailability

pytestmark = pytest.mark.django_db

AWAY = {"status": "away", "reason": "training"}


def test_a_user_reads_and_sets_their_own_availability():
    user = UserFactory()
    client = api_client(user)
    body = client.get("/agents/me/availability/").json()
    assert (body["user_id"], body["status"], body["updated_at"]) == (user.user_id, "active", None)
    response = client.put("/agents/me/availability/", AWAY | {"max_open_tasks": 5}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["max_open_tasks"] == 5
    assert response.json()["status"] == "away" and response.json()["updated_by"] == user.user_id
    assert AgentAvailability.objects.get(pk=user.pk).reason == "training"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "gone"}, "status"),
        ({}, "status"),
        ({"status": "active", "away_from": "soon"}, "away_from"),
        ({"status": "active", "max_open_tasks": -1}, "max_open_tasks"),
        ({"status": "active", "away_from": "2026-01-02T00:00:00Z", "away_until": "2026-01-01T00:00:00Z"}, "away_until"),
    ],
)
def test_invalid_availability_is_400_with_field_errors(body, field):
    response = api_client(UserFactory()).put("/agents/me/availability/", body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"], response.content


def test_availability_needs_authentication_and_a_known_user():
    assert APIClient().get("/agents/me/availability/").status_code == 401
    assert api_client(is_admin=True).get("/agents/me/availability/").status_code == 404  # admin 1 has no replica


def test_admins_manage_anyones_availability_and_list_agents():
    user, other = UserFactory(), UserFactory()
    admin = api_client(is_admin=True)
    response = admin.put(
        f"/agents/{user.user_id}/availability/",
        {"status": "active", "away_from": "2030-01-01T00:00:00Z", "away_until": "2030-01-08T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 200 and response.json()["away_until"] == "2030-01-08T00:00:00Z"
    assert admin.get("/agents/999999/availability/").status_code == 404
    listed = admin.get("/agents/?page_size=1")
    assert listed.json()["count"] == 2 and listed.json()["results"][0]["away_from"] == "2030-01-01T00:00:00Z"
    agent = api_client(other)
    assert agent.get(f"/agents/{user.user_id}/availability/").status_code == 403
    assert agent.put(f"/agents/{user.user_id}/availability/", AWAY, format="json").status_code == 403
    assert agent.get("/agents/").status_code == 403


def test_role_lead_must_hold_the_role():
    role, users = role_with_users(2)
    admin = api_client(is_admin=True)
    assert admin.get(f"/roles/{role.pk}/settings/").json() == {"role_id": role.pk, "lead_user_id": None}
    response = admin.put(f"/roles/{role.pk}/settings/", {"lead_user_id": users[0].user_id}, format="json")
    assert response.status_code == 200 and response.json()["lead_user_id"] == users[0].user_id
    bad = admin.put(f"/roles/{role.pk}/settings/", {"lead_user_id": UserFactory().user_id}, format="json")
    assert bad.status_code == 400 and "lead_user_id" in bad.json()["errors"]
    assert admin.put("/roles/424242/settings/", {"lead_user_id": None}, format="json").status_code == 404
    assert api_client(users[0]).get(f"/roles/{role.pk}/settings/").status_code == 403


def test_fairness_per_role_and_decisions_on_the_task():
    coordinators, _ = role_with_users(1)
    agents, users = role_with_users(2)
    deployed_workflow(step_roles=[agents], coordinator_role=coordinators, category="IT Support", sub_category="Network")
    tasks = [ingested_task(f"T-{i}") for i in range(3)]
    admin = api_client(is_admin=True)
    body = admin.get(f"/roles/{agents.pk}/fairness/").json()
    assert sorted(u["assignments"] for u in body["users"]) == [1, 2] and body["spread"] == 1
    assert admin.get(f"/roles/{agents.pk}/fairness/?since=2999-01-01T00:00:00Z").json()["spread"] == 0
    bad = admin.get(f"/roles/{agents.pk}/fairness/?since=yesterday")
    assert bad.status_code == 400 and "since" in bad.json()["errors"]
    assert api_client(users[0]).get(f"/roles/{agents.pk}/fairness/").status_code == 403

    holder = next(u for u in users if u.user_id == tasks[0].assigned_user_id)
    [decision] = api_client(holder).get(f"/tasks/{tasks[0].pk}/").json()["decisions"]
    assert decision["user_id"] == holder.user_id and decision["outcome"] == "assigned"
    assert decision["candidates"] == sorted(u.user_id for u in users)
    assert [f["filter"] for f in decision["filters"]] == ["role", "active", "unavailable", "away", "capacity"]


def test_step_rules_round_trip_and_escalate_to_lead_needs_a_lead_at_deploy():
    agents, users = role_with_users(1)
    admin = api_client(is_admin=True)
    data = definition({"coord": agents, "triage": agents, "fix": agents})
    data["steps"][0] |= {"assignment_strategy": "least_loaded", "no_eligible_policy": "escalate_to_lead"}
    created = admin.post("/workflows/", data, format="json")
    assert created.status_code == 201, created.content
    step = created.json()["steps"][0]
    assert (step["assignment_strategy"], step["no_eligible_policy"]) == ("least_loaded", "escalate_to_lead")
    workflow_id = created.json()["id"]
    refused = admin.post(f"/workflows/{workflow_id}/deploy/")
    assert refused.status_code == 400 and "escalate_to_lead needs a lead" in str(refused.json()["errors"])
    admin.put(f"/roles/{agents.pk}/settings/", {"lead_user_id": users[0].user_id}, format="json")
    assert admin.post(f"/workflows/{workflow_id}/deploy/").status_code == 200
    data["steps"][0]["no_eligible_policy"] = "whatever"
    bad = admin.post("/workflows/", data, format="json")
    assert bad.status_code == 400 and "steps" in bad.json()["errors"]


def test_a_transfer_to_an_away_user_is_400():
    coordinators, _ = role_with_users(1)
    agents, users = role_with_users(2)
    deployed_workflow(step_roles=[agents], coordinator_role=coordinators, category="IT Support", sub_category="Network")
    task = ingested_task("T-1")
    other = next(u for u in users if u.user_id != task.assigned_user_id)
    admin = api_client(is_admin=True)
    assert admin.put(f"/agents/{other.user_id}/availability/", AWAY, format="json").status_code == 200
    refused = admin.post(f"/tasks/{task.pk}/actions/", {"action": "transfer", "to_user": other.user_id}, format="json")
    assert refused.status_code == 400 and "to_user" in refused.json()["errors"]
    admin.put(f"/agents/{other.user_id}/availability/", {"status": "active"}, format="json")
    moved = admin.post(f"/tasks/{task.pk}/actions/", {"action": "transfer", "to_user": other.user_id}, format="json")
    assert moved.status_code == 200 and moved.json()["assigned_user"] == other.user_id
    last = moved.json()["decisions"][-1]
    assert (last["strategy"], last["outcome"], last["reason"], last["user_id"]) == ("direct", "direct", "transfer", other.user_id)


def test_the_agent_list_shows_open_tasks_roles_and_filters():
    from tests.workflow_api.factories import two_step_setup

    workflow, users = two_step_setup()
    tasks = [ingested_task(f"T-{n}") for n in range(4)]  # round robin over the three agents: 2, 1, 1
    holder = tasks[0].assigned_user
    admin = api_client(is_admin=True)
    admin.put(f"/agents/{holder.user_id}/availability/", AWAY | {"max_open_tasks": 3}, format="json")
    rows = {row["user_id"]: row for row in admin.get("/agents/").json()["results"]}
    assert sorted(rows[a.user_id]["open_tasks"] for a in users["agents"]) == [1, 1, 2]
    assert rows[holder.user_id]["roles"] == ["Agent"] and rows[holder.user_id]["max_open_tasks"] == 3
    assert rows[users["engineers"][0].user_id]["open_tasks"] == 0
    away = admin.get("/agents/", {"status": "away"}).json()["results"]
    assert [row["user_id"] for row in away] == [holder.user_id]
    active = admin.get("/agents/", {"status": "active", "role": users["agents"][0].roles.get().role_id}).json()
    assert {row["user_id"] for row in active["results"]} == {a.user_id for a in users["agents"]} - {holder.user_id}
    assert admin.get("/agents/", {"search": holder.username.upper()}).json()["count"] == 1
    assert admin.get("/agents/", {"status": "asleep"}).status_code == 400
