"""/workflows/: drafts, edits, deploy validation, archive, new versions."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tests.workflow_api.factories import RoleFactory, UserFactory, WorkflowFactory, api_client, deployed_workflow
from workflow_api.models import AuditEvent, Task, Workflow, WorkflowStep

pytestmark = pytest.mark.django_db


@pytest.fixture
def roles():
    return {"triage": RoleFactory(name="Triage Agent"), "fix": RoleFactory(name="Fixer"), "coord": RoleFactory(name="Coord")}


@pytest.fixture
def admin():
    return api_client(is_admin=True)


@pytest.fixture
def agent():
    return api_client(UserFactory())


def definition(roles, **overrides):
    body = {
        "name": "Network Issue",
        "description": "Network problems",
        "category": "IT Support",
        "sub_category": "Network",
        "department": "",
        "coordinator_role_id": roles["coord"].pk,
        "sla_hours": {"low": 72, "medium": 24, "high": 8, "urgent": 4},
        "steps": [
            {"name": "Triage", "order": 1, "role_id": roles["triage"].pk, "sla_weight": "40"},
            {"name": "Fix", "order": 2, "role_id": roles["fix"].pk, "sla_weight": "60"},
        ],
        "transitions": [
            {"from_step": "Triage", "action": "approve", "to_step": "Fix"},
            {"from_step": "Triage", "action": "reject", "to_step": None},
            {"from_step": "Fix", "action": "approve", "to_step": None},
        ],
    }
    return {**body, **overrides}


def create(admin, roles, **overrides) -> dict:
    response = admin.post("/workflows/", definition(roles, **overrides), format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def assert_error(response, status: int, *fields: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["status"] == status and body["code"] and body["detail"]
    for field in fields:
        assert field in body["errors"], body
    return body


# --- Create ----------------------------------------------------------------------------------------------------------
def test_create_draft(admin, roles):
    body = create(admin, roles)
    assert body["status"] == "draft" and body["version"] == 1
    assert body["sla_hours"] == {"low": 72.0, "medium": 24.0, "high": 8.0, "urgent": 4.0}
    assert [(s["name"], s["order"], s["role_id"], s["role_name"]) for s in body["steps"]] == [
        ("Triage", 1, roles["triage"].pk, "Triage Agent"),
        ("Fix", 2, roles["fix"].pk, "Fixer"),
    ]
    assert {(t["from_step"], t["action"], t["to_step"]) for t in body["transitions"]} == {
        ("Triage", "approve", "Fix"),
        ("Triage", "reject", None),
        ("Fix", "approve", None),
    }
    workflow = Workflow.objects.get(pk=body["id"])
    assert workflow.sla_urgent == timedelta(hours=4) and workflow.created_by_id == 1
    event = AuditEvent.objects.get(action="workflow.created")
    assert event.entity_id == str(workflow.pk) and event.actor_id == 1 and event.actor_username == "admin"


@pytest.mark.parametrize(
    "change, fields",
    [
        ({"name": None, "category": 5, "steps": "x"}, ["name", "steps"]),
        ({"sla_hours": {"low": 1}}, ["sla_hours"]),
        ({"sla_hours": {"low": -1, "medium": 1, "high": 1, "urgent": 1}}, ["sla_hours"]),
        ({"coordinator_role_id": "abc"}, ["coordinator_role_id"]),
        ({"coordinator_role_id": 999999}, ["coordinator_role_id"]),
        ({"steps": [{"name": "A", "order": 1, "role_id": 999999, "sla_weight": 100}], "transitions": []}, ["steps"]),
        ({"steps": [{"name": "A", "order": -1, "role_id": 1, "sla_weight": 101}]}, ["steps"]),
        ({"transitions": [{"from_step": "Nope", "action": "approve", "to_step": "Fix"}]}, ["transitions"]),
        ({"transitions": [{"from_step": "Triage", "action": "teleport", "to_step": None}]}, ["transitions"]),
        ({"transitions": [{"from_step": "Triage", "action": "escalate", "to_step": None}]}, ["transitions"]),
        (
            {"transitions": [{"from_step": "Fix", "action": "approve"}, {"from_step": "Fix", "action": "approve"}]},
            ["transitions"],
        ),
    ],
)
def test_create_rejects_bad_input_and_writes_nothing(admin, roles, change, fields):
    assert_error(admin.post("/workflows/", definition(roles, **change), format="json"), 400, *fields)
    assert not Workflow.objects.exists() and not AuditEvent.objects.exists()


def test_create_rejects_duplicate_step_names(admin, roles):
    steps = [
        {"name": "Same", "order": 1, "role_id": roles["fix"].pk, "sla_weight": 50},
        {"name": "Same", "order": 1, "role_id": roles["fix"].pk, "sla_weight": 50},
    ]
    body = assert_error(admin.post("/workflows/", definition(roles, steps=steps, transitions=[]), format="json"), 400)
    assert body["errors"]["steps"] == ["Duplicate step name 'Same'.", "Duplicate step order 1."]
    assert not Workflow.objects.exists()


def test_create_needs_json_object(admin):
    assert_error(admin.post("/workflows/", "[1, 2]", content_type="application/json"), 400)
    assert admin.post("/workflows/", "{bad", content_type="application/json").status_code == 400


def test_writes_are_for_admins(agent, roles):
    assert agent.post("/workflows/", definition(roles), format="json").status_code == 403
    workflow = WorkflowFactory()
    for path in ("deploy", "archive", "new-version"):
        assert agent.post(f"/workflows/{workflow.pk}/{path}/").status_code == 403
    assert agent.patch(f"/workflows/{workflow.pk}/", {"name": "x"}, format="json").status_code == 403
    assert_error(APIClient().get("/workflows/"), 401)  # no credentials at all
    assert Workflow.objects.get().name == workflow.name


# --- Read ----------------------------------------------------------------------------------------------------------
def test_list_filters_and_paginates(admin, agent, roles, django_assert_max_num_queries):
    create(admin, roles)
    create(admin, roles, category="Procurement", sub_category="Equipment")
    deployed_workflow(step_roles=[roles["fix"]], coordinator_role=roles["coord"], category="Procurement")
    with django_assert_max_num_queries(6):
        body = agent.get("/workflows/").json()
    assert set(body) == {"count", "count_is_estimate", "next", "previous", "results"} and body["count"] == 3
    assert agent.get("/workflows/?status=deployed").json()["count"] == 1
    assert agent.get("/workflows/?category=Procurement").json()["count"] == 2
    assert agent.get("/workflows/?category=Procurement&status=draft").json()["count"] == 1
    assert agent.get("/workflows/?page_size=1").json()["next"]
    assert_error(agent.get("/workflows/?status=bogus"), 400, "status")


def test_get_one_and_unknown(agent, admin, roles):
    workflow_id = create(admin, roles)["id"]
    assert agent.get(f"/workflows/{workflow_id}/").json()["name"] == "Network Issue"
    assert_error(agent.get("/workflows/999999/"), 404)
    assert admin.post("/workflows/999999/deploy/").status_code == 404


# --- Update ------------------------------------------------------------------------------------------------------------
def test_patch_and_put_a_draft(admin, roles):
    workflow_id = create(admin, roles)["id"]
    body = admin.patch(f"/workflows/{workflow_id}/", {"name": "Renamed"}, format="json").json()
    assert body["name"] == "Renamed" and body["description"] == "Network problems" and len(body["steps"]) == 2

    transitions = [{"from_step": "Triage", "action": "approve", "to_step": None}]
    body = admin.patch(f"/workflows/{workflow_id}/", {"transitions": transitions}, format="json").json()
    assert [(t["from_step"], t["to_step"]) for t in body["transitions"]] == [("Triage", None)]

    steps = [{"name": "Only", "order": 1, "role_id": roles["fix"].pk, "sla_weight": 100}]
    body = admin.put(
        f"/workflows/{workflow_id}/",
        definition(roles, steps=steps, transitions=[{"from_step": "Only", "action": "approve"}], department="HQ"),
        format="json",
    ).json()
    assert [s["name"] for s in body["steps"]] == ["Only"] and body["department"] == "HQ"
    assert AuditEvent.objects.filter(action="workflow.updated").count() == 3


def test_update_rejections(admin, roles):
    workflow_id = create(admin, roles)["id"]
    steps = [{"name": "Only", "order": 1, "role_id": roles["fix"].pk, "sla_weight": 100}]
    assert_error(admin.patch(f"/workflows/{workflow_id}/", {"steps": steps}, format="json"), 400, "transitions")
    assert_error(admin.put(f"/workflows/{workflow_id}/", {"name": "x"}, format="json"), 400, "category", "steps")
    assert_error(admin.patch(f"/workflows/{workflow_id}/", {"sla_hours": {"low": "x"}}, format="json"), 400)
    incomplete = {"steps": [{"order": 1}], "transitions": []}
    assert_error(admin.patch(f"/workflows/{workflow_id}/", incomplete, format="json"), 400, "steps")
    assert Workflow.objects.get().name == "Network Issue"
    assert WorkflowStep.objects.count() == 2

    admin.post(f"/workflows/{workflow_id}/deploy/")
    assert_error(admin.patch(f"/workflows/{workflow_id}/", {"name": "Late"}, format="json"), 409)
    assert Workflow.objects.get().name == "Network Issue"


# --- Deploy ------------------------------------------------------------------------------------------------------------
def test_deploy_archives_the_previous_one(admin, roles):
    first = create(admin, roles)["id"]
    assert admin.post(f"/workflows/{first}/deploy/").json()["status"] == "deployed"
    second = create(admin, roles, name="Network Issue 2")["id"]
    other = create(admin, roles, sub_category="Printers")["id"]
    body = admin.post(f"/workflows/{second}/deploy/").json()
    assert body["status"] == "deployed" and body["deployed_at"]
    assert admin.post(f"/workflows/{other}/deploy/").status_code == 200
    assert dict(Workflow.objects.values_list("pk", "status")) == {
        first: "archived",
        second: "deployed",
        other: "deployed",
    }
    assert AuditEvent.objects.filter(action="workflow.deployed").count() == 3
    archived = AuditEvent.objects.get(action="workflow.archived")
    assert archived.entity_id == str(first) and archived.data["replaced_by"] == second
    assert_error(admin.post(f"/workflows/{second}/deploy/"), 409)


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"steps": [], "transitions": []}, "steps", "at least one step"),
        ({"transitions": [{"from_step": "Triage", "action": "approve", "to_step": None}]}, "transitions", "'Fix' is not reachable"),
        (
            {
                "transitions": [
                    {"from_step": "Triage", "action": "approve", "to_step": "Fix"},
                    {"from_step": "Fix", "action": "approve", "to_step": "Triage"},
                ]
            },
            "transitions",
            "No end is reachable from step 'Triage'",
        ),
        ({"transitions": [{"from_step": "Triage", "action": "reject", "to_step": "Fix"}, {"from_step": "Fix", "action": "approve"}]}, "transitions", "'Triage' has no approve"),
        ({"sla_hours": {"low": 1, "medium": 1, "high": 1, "urgent": 1}, "steps": None}, "steps", "sum to 100 (they sum to 90)"),
    ],
)
def test_deploy_validation(admin, roles, change, field, message):
    if change.get("steps", ...) is None:  # same steps, weights that do not add up
        change["steps"] = [
            {"name": "Triage", "order": 1, "role_id": roles["triage"].pk, "sla_weight": "40"},
            {"name": "Fix", "order": 2, "role_id": roles["fix"].pk, "sla_weight": "50"},
        ]
    workflow_id = create(admin, roles, **change)["id"]
    body = assert_error(admin.post(f"/workflows/{workflow_id}/deploy/"), 400, field)
    assert any(message in error for error in body["errors"][field]), body
    assert Workflow.objects.get().status == "draft"
    assert not AuditEvent.objects.filter(action="workflow.deployed").exists()


def test_deploy_needs_active_roles(admin, roles):
    workflow_id = create(admin, roles)["id"]
    for role in (roles["fix"], roles["coord"]):
        role.is_active = False
        role.save()
    body = assert_error(admin.post(f"/workflows/{workflow_id}/deploy/"), 400, "steps", "coordinator_role_id")
    assert body["errors"]["steps"] == ["Step 'Fix': role 'Fixer' is inactive."]
    assert Workflow.objects.get().status == "draft"


# --- Archive and versions ----------------------------------------------------------------------------------------
def test_archive(admin, roles):
    workflow_id = create(admin, roles)["id"]
    admin.post(f"/workflows/{workflow_id}/deploy/")
    assert admin.post(f"/workflows/{workflow_id}/archive/").json()["status"] == "archived"
    assert_error(admin.post(f"/workflows/{workflow_id}/archive/"), 409)
    assert AuditEvent.objects.filter(action="workflow.archived", entity_id=str(workflow_id)).count() == 1


def test_new_version_leaves_running_tasks_on_their_version(admin, roles):
    v1 = create(admin, roles)["id"]
    admin.post(f"/workflows/{v1}/deploy/")
    v1_triage = WorkflowStep.objects.get(workflow_id=v1, name="Triage")
    task = Task.objects.create(
        workflow_id=v1,
        external_ticket_id="T-1",
        title="t",
        priority="high",
        status="in_progress",
        current_step=v1_triage,
        ticket_data={},
        ticket_created_at=timezone.now(),
        sla_deadline=timezone.now() + timedelta(hours=8),
    )

    response = admin.post(f"/workflows/{v1}/new-version/")
    assert response.status_code == 201
    v2 = response.json()
    assert v2["status"] == "draft" and v2["version"] == 2 and v2["lineage"] == admin.get(f"/workflows/{v1}/").json()["lineage"]
    assert [s["name"] for s in v2["steps"]] == ["Triage", "Fix"] and len(v2["transitions"]) == 3
    assert {s["id"] for s in v2["steps"]}.isdisjoint({v1_triage.pk})

    steps = [{"name": "Solo", "order": 1, "role_id": roles["fix"].pk, "sla_weight": 100}]
    admin.patch(f"/workflows/{v2['id']}/", {"steps": steps, "transitions": [{"from_step": "Solo", "action": "approve"}]}, format="json")
    assert admin.post(f"/workflows/{v2['id']}/deploy/").status_code == 200
    assert admin.post(f"/workflows/{v1}/new-version/").json()["version"] == 3

    task.refresh_from_db()
    assert task.workflow_id == v1 and task.current_step_id == v1_triage.pk
    assert Workflow.objects.get(pk=v1).status == "archived"
    assert list(WorkflowStep.objects.filter(workflow_id=v1).values_list("name", flat=True)) == ["Triage", "Fix"]
