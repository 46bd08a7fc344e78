"""Draft editing for the designer: revisions (409 on a stale save), audited edits, validation without saving keyed by
step and transition, export and import."""
from __future__ import annotations

import pytest

from tests.workflow_api.factories import UserFactory, api_client
from tests.workflow_api.test_workflows_api import admin, assert_error, create, definition, roles  # noqa: F401
from workflow_api.models import AuditEvent, BusinessCalendar, Workflow, WorkflowStep

pytestmark = pytest.mark.django_db


# --- Revisions ------------------------------------------------------------------------------------------------------
def test_each_save_moves_the_revision_on_and_a_stale_save_is_409_with_the_current_revision(admin, roles):  # noqa: F811
    draft = create(admin, roles)
    assert draft["revision"] == 1
    first = admin.patch(f"/workflows/{draft['id']}/", {"name": "First", "revision": 1}, format="json")
    assert first.status_code == 200 and first.json()["revision"] == 2
    # A second admin who loaded revision 1 saves the whole draft: refused, and nothing of it is stored.
    second = admin.put(f"/workflows/{draft['id']}/", {**definition(roles, name="Second"), "revision": 1}, format="json")
    body = assert_error(second, 409)
    assert body["code"] == "stale_revision" and body["revision"] == 2
    stored = Workflow.objects.get(pk=draft["id"])
    assert (stored.name, stored.revision) == ("First", 2)
    events = AuditEvent.objects.filter(entity_type="workflow", entity_id=str(draft["id"]), action="workflow.updated")
    assert [(e.data["changed"], e.data["revision"]) for e in events] == [(["name"], 2)]


def test_a_save_that_fails_validation_changes_nothing(admin, roles):  # noqa: F811
    draft = create(admin, roles)
    broken = definition(roles, name="Renamed", transitions=[{"from_step": "Nowhere", "action": "approve", "to_step": None}])
    response = admin.put(f"/workflows/{draft['id']}/", {**broken, "revision": 1}, format="json")
    assert_error(response, 400, "transitions")
    stored = Workflow.objects.get(pk=draft["id"])
    assert (stored.name, stored.revision, stored.transitions.count()) == ("Network Issue", 1, 3)


# --- Validation -----------------------------------------------------------------------------------------------------
def test_validate_keys_each_problem_by_its_step_or_transition_and_saves_nothing(admin, roles):  # noqa: F811
    roles["fix"].is_active = False
    roles["fix"].save()
    body = definition(
        roles,
        steps=[
            {"name": "Triage", "order": 1, "role_id": roles["triage"].pk, "sla_weight": "40"},
            {"name": "Fix", "order": 2, "role_id": roles["fix"].pk, "sla_weight": "50"},
        ],
        transitions=[{"from_step": "Triage", "action": "approve", "to_step": "Fix"}],
    )
    workflows, steps = Workflow.objects.count(), WorkflowStep.objects.count()
    response = admin.post("/workflows/validate/", body, format="json")
    assert response.status_code == 200, response.content
    result = response.json()
    assert result["valid"] is False
    keyed = {(p["field"], p["step"], p["action"]) for p in result["problems"]}
    assert keyed == {
        ("transitions", "Fix", None),  # no approve transition, and no end reachable
        ("transitions", "Triage", None),  # no end reachable
        ("steps", "Fix", None),  # inactive role
        ("steps", None, None),  # weights sum to 90
    }
    assert "SLA weights must sum to 100 (they sum to 90)." in result["errors"]["steps"]
    assert (Workflow.objects.count(), WorkflowStep.objects.count()) == (workflows, steps)

    dangling = definition(roles, transitions=[{"from_step": "Triage", "action": "escalate", "to_step": None}])
    problems = admin.post("/workflows/validate/", dangling, format="json").json()["problems"]
    assert {"field": "transitions", "step": "Triage", "action": "escalate",
            "message": "Escalate from 'Triage' must lead to a step."} in problems  # fmt: skip

    roles["fix"].is_active = True
    roles["fix"].save()
    assert admin.post("/workflows/validate/", definition(roles), format="json").json() == {
        "valid": True, "problems": [], "errors": {}
    }  # fmt: skip


def test_validate_is_for_admins_and_a_malformed_body_is_a_400(admin, roles):  # noqa: F811
    assert api_client(UserFactory()).post(
        "/workflows/validate/", definition(roles), format="json"
    ).status_code == 403
    assert_error(admin.post("/workflows/validate/", {"name": "x"}, format="json"), 400, "steps", "category")


# --- Export / import ------------------------------------------------------------------------------------------------
def test_export_then_import_makes_an_equal_new_draft(admin, roles):  # noqa: F811
    calendar = BusinessCalendar.objects.create(name="Manila", time_zone="Asia/Manila", weekly_hours={"mon": [["09:00", "17:00"]]})
    source = create(admin, roles, calendar_id=calendar.pk, escalation_role_id=roles["coord"].pk, sla_warning_thresholds=[60])
    exported = admin.get(f"/workflows/{source['id']}/export/")
    assert exported.status_code == 200 and "attachment" in exported["Content-Disposition"]
    document = exported.json()
    assert document["format"] == "tts.workflow/1" and document["calendar"] == "Manila"
    assert document["steps"][0]["role"] == "Triage Agent" and "role_id" not in document["steps"][0]

    imported = admin.post("/workflows/import/", document, format="json")
    assert imported.status_code == 201, imported.content
    copy = imported.json()
    assert copy["id"] != source["id"] and copy["lineage"] != source["lineage"]
    assert (copy["status"], copy["version"], copy["revision"]) == ("draft", 1, 1)
    assert admin.get(f"/workflows/{copy['id']}/export/").json() == document
    assert AuditEvent.objects.get(action="workflow.created", entity_id=str(copy["id"])).data["imported"] is True


def test_import_names_unknown_roles_and_calendars_per_field_and_stores_nothing(admin, roles):  # noqa: F811
    document = admin.get(f"/workflows/{create(admin, roles)['id']}/export/").json()
    document["coordinator_role"] = "Nobody"
    document["calendar"] = "Mars"
    document["steps"][1]["role"] = "Ghosts"
    before = Workflow.objects.count()
    body = assert_error(admin.post("/workflows/import/", document, format="json"), 400, "coordinator_role", "calendar", "steps")
    assert body["errors"]["steps"] == ["Step 'Fix': Unknown role 'Ghosts'."]
    assert Workflow.objects.count() == before
