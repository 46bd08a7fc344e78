"""External actions (AMS/BMS) on workflow steps: approve → awaiting → the outside system decides; an asset AMS
cannot reserve (or none named) waits for a selection on the task; outages leave the task pending external approval
for the retry scan or an admin; the admin actions, the workflow API field and the integration-health endpoint. The outside systems are local HTTP stubs; the check job runs in this process from
the message the approval published to RabbitMQ."""
from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from tests.workflow_api.factories import api_client, ingested_task, role_with_users, two_step_setup
from tests.workflow_api.test_actions_api import Published as BasePublished
from tests.workflow_api.test_actions_api import inapp, statuses
from tests.workflow_api.test_hdts_deployed import hdts_ticket
from tests.workflow_api.test_integration_clients import RESERVATION
from tts_common import contracts
from tts_common.base.permissions import ADMIN as ADMIN_PERMISSION
from workflow_api.models import AuditEvent, ExternalAction, Task
from workflow_api.services import external, hdts_status, ingestion, integrations, sla
from workflow_api.services.assignment import release_user_tasks

pytestmark = pytest.mark.django_db


class Published(BasePublished):
    ROUTES = (*BasePublished.ROUTES, contracts.EXTERNAL_CHECK)

    def checks(self) -> list[dict[str, Any]]:
        """The check jobs published since the last call (taken out of what was published)."""
        self()
        jobs = [kw for name, kw in self.messages if name == contracts.EXTERNAL_CHECK.task]
        self.messages[:] = [(name, kw) for name, kw in self.messages if name != contracts.EXTERNAL_CHECK.task]
        return jobs


@pytest.fixture
def published(broker) -> Published:
    return Published(broker)


@pytest.fixture
def run_checks(published, django_capture_on_commit_callbacks):
    """Run the check jobs published so far, as the worker would; returns their kwargs."""

    def run() -> list[dict[str, Any]]:
        jobs = published.checks()
        for job in jobs:
            with django_capture_on_commit_callbacks(execute=True):
                external.external_check(task_id=UUID(job["task_id"]), attempt=job["attempt"])
        return jobs

    return run


@pytest.fixture
def admin_user():
    _, [admin] = role_with_users(1, system=django_settings.TTS_SYSTEM, permissions=[ADMIN_PERMISSION])
    return admin


def external_workflow(step_number: int, action: str):
    workflow, people = two_step_setup()
    workflow.steps.filter(order=step_number).update(external_action=action)
    return workflow, people


def at_budget_step(act, published) -> tuple[Task, Any]:
    """A task of the two-step workflow whose step 2 has a BMS check, approved past step 1; returns it and its
    step-2 assignee."""
    task = ingested_task(
        "EQ-1", department="Finance", requester_name="Pat", amount="1299.5", justification="Laptop for the new hire"
    )
    assert act(task, task.assigned_user, action="approve").status_code == 200
    task.refresh_from_db()
    published.clear()
    return task, task.assigned_user


# --- The check -----------------------------------------------------------------------------------------------------
def test_approving_a_bms_step_waits_then_the_approval_completes_the_task(bms, act, published, run_checks):
    external_workflow(2, ExternalAction.BMS_BUDGET_CHECK)
    task, approver = at_budget_step(act, published)

    body = act(task, approver, action="approve", notes="Within plan").json()
    assert body["status"] == "awaiting_external" and body["current_step_name"] == "Step 2"
    assert body["assigned_user"] == approver.user_id and body["step_history"][-1]["status"] == "active"
    assert (body["external_action"], body["external_attempt"], body["external_requested_by"]) == (
        "bms_budget_check", 1, approver.user_id,
    )  # fmt: skip
    assert statuses(published) == ["awaiting_external"]
    assert bms.hits == 0  # no HTTP inside the request

    [job] = run_checks()
    assert job == {"task_id": str(task.task_id), "attempt": 1}
    assert bms.bodies == [{
        "department": "Finance", "amount": "1299.50", "currency": "PHP", "category": "IT Support",
        "requester_id": approver.user_id, "justification": "Laptop for the new hire",
    }]  # fmt: skip
    assert bms.received[0].headers["Idempotency-Key"] == f"{task.task_id}:1"
    task.refresh_from_db()
    assert task.status == "completed" and task.external_reference == "BUD-1"
    assert task.bms_answer["approval_id"] == "BUD-1" and task.bms_answer["remaining_balance"] == "98700.50"
    last = task.step_instances.order_by("started_at", "id").last()
    assert (last.status, last.acted_by_id, last.notes) == ("approved", approver.user_id, "Within plan")
    assert statuses(published) == ["awaiting_external", "completed"]
    assert set(inapp(published, "task_completed")) == {task.owner_id, approver.user_id}
    actions = set(AuditEvent.objects.filter(ticket_id="EQ-1").values_list("action", flat=True))
    assert {"task.external_requested", "task.external_approved", "task.closed"} <= actions

    # A redelivered job finds the task no longer waiting: nothing is called or changed.
    external.external_check(task_id=task.task_id, attempt=1)
    assert bms.hits == 1


def test_ams_reservation_moves_the_task_to_the_next_step_round_robin(ams, act, published, run_checks):
    _, people = external_workflow(1, ExternalAction.AMS_RESERVE)
    task = ingested_task("EQ-2", asset_id="LAPTOP-14", duration_days=30)
    approver = task.assigned_user
    assert act(task, approver, action="approve", notes="Needed Monday").json()["status"] == "awaiting_external"
    run_checks()
    assert ams.bodies == [{
        "asset_id": "LAPTOP-14", "requester_id": approver.user_id, "task_id": str(task.task_id), "duration_days": 30,
        "notes": "Needed Monday",
    }]  # fmt: skip
    body = api_client(is_admin=True).get(f"/tasks/{task.task_id}/").json()
    assert (body["status"], body["current_step_name"], body["external_reference"]) == ("in_progress", "Step 2", "RES-1")
    assert body["ams_reservation"]["asset_details"]["serial"] == "SN-LAPTOP-14"
    assert body["ams_reservation"]["status"] == "confirmed" and body["ams_reservation"]["valid_until"]
    assert body["assigned_user"] in {u.user_id for u in people["engineers"]}


@pytest.fixture
def asset_taken(ams, act, published, run_checks):
    """A task whose AMS step's approval met an asset AMS could not reserve (it offered two others)."""
    external_workflow(1, ExternalAction.AMS_RESERVE)
    ams.unavailable["ASSET-789"] = ["ASSET-790", "ASSET-791"]
    task = ingested_task("EQ-3", asset_id="ASSET-789", duration_days=7)
    approver = task.assigned_user
    act(task, approver, action="approve", notes="For the auditors")
    run_checks()
    task.refresh_from_db()
    return task, approver


def test_an_unavailable_asset_waits_for_a_selection_with_the_alternatives(asset_taken, published):
    task, approver = asset_taken
    assert (task.status, task.external_error, task.asset_alternatives) == (
        "awaiting_asset_selection", "Asset not available", ["ASSET-790", "ASSET-791"],
    )  # fmt: skip
    assert (task.current_step.name, task.assigned_user_id) == ("Step 1", approver.user_id)
    assert inapp(published, "asset_selection_needed") == [approver.user_id]
    assert statuses(published) == ["awaiting_external", "awaiting_asset_selection"]
    event = AuditEvent.objects.get(action="task.asset_unavailable")
    assert event.data["alternatives"] == ["ASSET-790", "ASSET-791"]


def test_the_sla_monitor_warns_a_task_awaiting_asset_selection(asset_taken, published, django_capture_on_commit_callbacks):
    task, approver = asset_taken
    Task.objects.filter(pk=task.pk).update(sla_next_warning_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert sla.sla_scan().warned == 1
    assert approver.user_id in inapp(published, "sla_warning")
    assert Task.objects.get(pk=task.pk).status == "awaiting_asset_selection"


def test_a_breach_hands_the_task_over_still_awaiting_a_selection(asset_taken, published, django_capture_on_commit_callbacks):
    task, approver = asset_taken
    Task.objects.filter(pk=task.pk).update(sla_deadline=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert sla.sla_scan().breached == 1
    task.refresh_from_db()
    assert (task.status, task.assigned_user_id) == ("awaiting_asset_selection", task.owner_id)
    assert task.owner_id != approver.user_id and task.sla_breached_at is not None


def test_the_assignee_picks_an_alternative_and_the_reservation_is_asked_again(asset_taken, ams, act, published, run_checks):
    task, approver = asset_taken
    body = act(task, approver, action="select_asset", asset_id="ASSET-790").json()
    assert (body["status"], body["selected_asset_id"], body["external_attempt"]) == ("awaiting_external", "ASSET-790", 2)
    run_checks()
    assert ams.bodies[-1] == {
        "asset_id": "ASSET-790", "requester_id": approver.user_id, "task_id": str(task.task_id), "duration_days": 7,
        "notes": "For the auditors",
    }  # fmt: skip
    task.refresh_from_db()
    assert (task.status, task.current_step.name, task.ams_reservation["asset_id"]) == ("in_progress", "Step 2", "ASSET-790")
    assert task.asset_alternatives is None and task.external_error == ""
    assert AuditEvent.objects.get(action="task.asset_selected").data["asset_id"] == "ASSET-790"


def test_an_admin_may_type_another_asset_and_becomes_the_requester(asset_taken, ams, act, run_checks):
    task, _ = asset_taken
    body = act(task, action="select_asset", asset_id="ASSET-900", duration_days=3, notes="Spare").json()
    assert body["status"] == "awaiting_external"
    run_checks()
    sent = ams.bodies[-1]
    assert (sent["asset_id"], sent["duration_days"], sent["requester_id"], sent["notes"]) == (
        "ASSET-900", 3, 1, "Spare",
    )  # fmt: skip
    assert Task.objects.get(pk=task.pk).ams_reservation["asset_id"] == "ASSET-900"


def test_asset_selection_is_for_the_assignee_or_an_admin_in_that_state(asset_taken, act):
    task, approver = asset_taken
    other = role_with_users(1)[1][0]
    assert act(task, other, action="select_asset", asset_id="ASSET-790").status_code in (403, 404)
    response = act(task, approver, action="select_asset")
    assert response.status_code == 400 and set(response.json()["errors"]) == {"asset_id"}
    response = act(task, approver, action="approve", asset_id="ASSET-790")
    assert response.status_code == 400 and set(response.json()["errors"]) == {"asset_id"}
    assert act(task, approver, action="approve").status_code == 409
    fresh = ingested_task("EQ-8", asset_id="A", duration_days=1)
    assert act(fresh, fresh.assigned_user, action="select_asset", asset_id="ASSET-790").status_code == 409


def test_a_ticket_without_an_asset_waits_for_a_selection_without_calling_ams(ams, act, published, run_checks):
    external_workflow(1, ExternalAction.AMS_RESERVE)
    task = ingested_task("EQ-4")
    approver = task.assigned_user
    body = act(task, approver, action="approve").json()
    assert (body["status"], body["asset_alternatives"]) == ("awaiting_asset_selection", None)
    assert "names no asset" in body["external_error"]
    assert published.checks() == [] and ams.hits == 0
    response = act(task, approver, action="select_asset", asset_id="LAPTOP-1")
    assert response.status_code == 400 and set(response.json()["errors"]) == {"duration_days"}
    assert act(task, approver, action="select_asset", asset_id="LAPTOP-1", duration_days=10).status_code == 200
    run_checks()
    assert (ams.bodies[-1]["asset_id"], ams.bodies[-1]["duration_days"]) == ("LAPTOP-1", 10)
    assert Task.objects.get(pk=task.pk).status == "in_progress"


def test_the_deployed_hdts_asset_and_budget_fields_reach_ams_and_bms(ams, bms, act, published, run_checks, settings):
    settings.HDTS_SIGNING_SECRET = ""
    workflow, _ = two_step_setup()
    workflow.steps.filter(order=1).update(external_action=ExternalAction.AMS_RESERVE)
    workflow.steps.filter(order=2).update(external_action=ExternalAction.BMS_BUDGET_CHECK)
    deployed = hdts_ticket(
        "TX20261204223344", category="IT Support", sub_category="Network", department="Asset Department",
        requested_budget="1450.5", dynamic_data={"asset_id": "AST-3451", "checkout_date": "2026-12-05",
                                                 "return_date": "2026-12-12"},
    )  # fmt: skip
    [task] = ingestion.ingest_tickets([ingestion.parse_ticket(deployed, received_at=timezone.now())])
    reviewer = task.assigned_user
    act(task, reviewer, action="approve", notes="Projector for the offsite")
    run_checks()
    task.refresh_from_db()
    assert ams.bodies == [{
        "asset_id": "AST-3451", "requester_id": reviewer.user_id, "task_id": str(task.task_id), "duration_days": 7,
        "notes": "Projector for the offsite",
    }]  # fmt: skip
    approver = task.assigned_user
    act(task, approver, action="approve")
    run_checks()
    assert bms.bodies == [{
        "department": "Asset Department", "amount": "1450.50", "currency": "PHP", "category": "IT Support",
        "requester_id": approver.user_id, "justification": "It jams on every second page.",
    }]  # fmt: skip
    assert Task.objects.get(pk=task.pk).status == "completed"


def test_another_ams_4xx_is_pending_for_an_admin(ams, act, published, run_checks, admin_user):
    external_workflow(1, ExternalAction.AMS_RESERVE)
    ams.answer(404, {"error": "Unknown asset"})
    task = ingested_task("EQ-5", asset_id="NOPE-1", duration_days=2)
    act(task, task.assigned_user, action="approve")
    run_checks()
    task.refresh_from_db()
    assert task.status == "pending_external_approval" and "HTTP 404" in task.external_error
    assert inapp(published, "external_approval_pending") == [admin_user.user_id]


def test_a_withdrawn_task_records_its_reservation_to_release(ams, act, run_checks):
    external_workflow(1, ExternalAction.AMS_RESERVE)
    task = ingested_task("EQ-6", asset_id="LAPTOP-14", duration_days=30)
    act(task, task.assigned_user, action="approve")
    run_checks()
    hdts_status.apply_statuses([hdts_status.HdtsStatus("EQ-6", "Withdrawn", {"ticket_number": "EQ-6", "status": "Withdrawn"})])
    assert Task.objects.get(pk=task.pk).status == "cancelled"
    assert AuditEvent.objects.get(action="task.cancelled").data["ams_reservation_to_release"] == "RES-1"


def test_rejection_follows_the_reject_transition_and_sends_a_rejection_notice(bms, act, published, run_checks):
    external_workflow(2, ExternalAction.BMS_BUDGET_CHECK)
    task, approver = at_budget_step(act, published)
    bms.available = Decimal("1000.00")
    act(task, approver, action="approve")
    run_checks()
    task.refresh_from_db()
    assert (task.status, task.external_reason) == ("rejected", "Exceeds the Finance budget")
    assert task.bms_answer == {
        "approved": False, "reason": "Exceeds the Finance budget", "available_amount": "1000.00",
        "rejection_code": "INSUFFICIENT_FUNDS",
    }  # fmt: skip
    assert task.step_instances.order_by("started_at", "id").last().status == "rejected"
    assert sorted(inapp(published, "external_rejected")) == sorted({approver.user_id, task.owner_id})
    assert AuditEvent.objects.get(action="task.external_rejected").data["reason"] == "Exceeds the Finance budget"


def test_outage_waits_pending_admins_told_once_and_the_retry_scan_recovers(
    bms, settings, act, published, run_checks, admin_user, django_capture_on_commit_callbacks
):
    def retry_scan() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return external.external_retry_scan()

    settings.CIRCUIT_FAILURE_THRESHOLD, settings.CIRCUIT_RECOVERY_SECONDS = 1, 1
    integrations.reset_circuits()
    external_workflow(2, ExternalAction.BMS_BUDGET_CHECK)
    task, approver = at_budget_step(act, published)
    bms.answer(500, {"detail": "down"})
    act(task, approver, action="approve")
    run_checks()
    task.refresh_from_db()
    assert task.status == "pending_external_approval" and "HTTP 500" in task.external_error
    assert bms.hits == 2  # the call and its one retry
    assert inapp(published, "external_approval_pending") == [admin_user.user_id]
    assert statuses(published) == ["awaiting_external", "pending_external_approval"]
    assert AuditEvent.objects.filter(action="task.external_failed", ticket_id="EQ-1").count() == 1

    assert retry_scan() == 0  # the circuit is open: no retry
    time.sleep(1.1)
    assert retry_scan() == 1  # recovery time is over: one retry, still failing
    [job] = run_checks()
    assert job["attempt"] == 2 and bms.hits == 4
    task.refresh_from_db()
    assert task.status == "pending_external_approval"
    assert inapp(published, "external_approval_pending") == [admin_user.user_id]  # not told again
    assert statuses(published) == ["awaiting_external", "pending_external_approval"]  # nothing new for HDTS

    bms.heal()
    time.sleep(1.1)
    assert retry_scan() == 1
    run_checks()
    task.refresh_from_db()
    assert (task.status, task.external_reference, task.external_attempt) == ("completed", "BUD-1", 3)


def test_a_superseded_attempt_does_nothing(bms, act, published):
    external_workflow(2, ExternalAction.BMS_BUDGET_CHECK)
    task, approver = at_budget_step(act, published)
    act(task, approver, action="approve")
    Task.objects.filter(pk=task.pk).update(external_attempt=2)  # a retry took over
    external.external_check(task_id=task.task_id, attempt=1)
    assert bms.hits == 0 and Task.objects.get(pk=task.pk).status == "awaiting_external"


def test_a_deactivated_approver_does_not_pull_the_task_out_of_its_wait(bms, act, published, run_checks):
    external_workflow(2, ExternalAction.BMS_BUDGET_CHECK)
    task, approver = at_budget_step(act, published)
    act(task, approver, action="approve")
    assert release_user_tasks(approver.user_id) == 0
    assert Task.objects.get(pk=task.pk).status == "awaiting_external"
    run_checks()
    assert Task.objects.get(pk=task.pk).status == "completed"


def test_unconfigured_system_leaves_the_task_to_an_admin(settings, act, published, run_checks, admin_user):
    settings.BMS_URL = ""
    integrations.reset_circuits()
    external_workflow(2, ExternalAction.BMS_BUDGET_CHECK)
    task, approver = at_budget_step(act, published)
    act(task, approver, action="approve")
    run_checks()
    task.refresh_from_db()
    assert task.status == "pending_external_approval" and "not configured" in task.external_error
    assert inapp(published, "external_approval_pending") == [admin_user.user_id]


# --- Admins decide by hand -----------------------------------------------------------------------------------------
@pytest.fixture
def pending(settings, act, published, run_checks):
    settings.BMS_URL = ""
    external_workflow(2, ExternalAction.BMS_BUDGET_CHECK)
    task, approver = at_budget_step(act, published)
    act(task, approver, action="approve")
    run_checks()
    published.clear()
    task.refresh_from_db()
    assert task.status == "pending_external_approval"
    return task, approver


def test_admin_approves_by_hand_with_a_reference(pending, act, published):
    task, _ = pending
    body = act(task, action="external_approve", notes="Approved by phone", reference="BUD-PHONE-1").json()
    assert (body["status"], body["external_reference"]) == ("completed", "BUD-PHONE-1")
    last = body["step_history"][-1]
    assert (last["status"], last["acted_by"], last["notes"]) == ("approved", 1, "Approved by phone")
    event = AuditEvent.objects.get(action="task.external_resolved")
    assert (event.actor_id, event.data["decision"], event.data["reference"]) == (1, "approved", "BUD-PHONE-1")
    assert statuses(published) == ["completed"]


def test_admin_rejects_by_hand_with_a_rejection_notice(pending, act, published):
    task, approver = pending
    body = act(task, action="external_reject", notes="Budget frozen").json()
    assert (body["status"], body["external_reason"]) == ("rejected", "Budget frozen")
    assert sorted(inapp(published, "external_rejected")) == sorted({approver.user_id, task.owner_id})


def test_admin_retry_sends_the_check_again(pending, act, published):
    task, _ = pending
    body = act(task, action="external_retry").json()
    assert (body["status"], body["external_attempt"]) == ("awaiting_external", 2)
    assert body["external_error"]  # the last error stays visible while the retry runs
    assert published.checks() == [{"task_id": str(task.task_id), "attempt": 2}]


def test_only_admins_decide_in_place_of_the_outside_system(pending, act):
    task, approver = pending
    response = act(task, approver, action="external_approve")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert act(task, approver, action="approve").status_code == 409  # the human decision is made already


def test_external_actions_need_a_pending_task(act):
    two_step_setup()
    task = ingested_task("EQ-9")
    for action in ("external_approve", "external_reject", "external_retry"):
        response = act(task, action=action)
        assert response.status_code == 409, (action, response.content)


def test_a_reference_only_goes_with_external_approve(pending, act):
    task, _ = pending
    response = act(task, action="external_reject", reference="X")
    assert response.status_code == 400 and set(response.json()["errors"]) == {"reference"}
    response = act(task, action="external_approve", reference="X" * 101)
    assert response.status_code == 400 and set(response.json()["errors"]) == {"reference"}


# --- Workflow definitions ------------------------------------------------------------------------------------------
def test_workflow_steps_take_an_external_action():
    _, people = two_step_setup()
    roles = {role.name: role.pk for role in (u.roles.get().role for u in (people["agents"][0], people["coordinators"][0]))}
    admin = api_client(is_admin=True)
    body = {
        "name": "Equipment",
        "category": "Procurement",
        "sub_category": "Equipment",
        "coordinator_role_id": roles["Coordinator"],
        "sla_hours": {"low": 72, "medium": 24, "high": 8, "urgent": 4},
        "steps": [
            {"name": "Review", "order": 1, "role_id": roles["Agent"], "sla_weight": "40"},
            {"name": "Budget", "order": 2, "role_id": roles["Agent"], "sla_weight": "60", "external_action": "bms_budget_check"},
        ],
        "transitions": [
            {"from_step": "Review", "action": "approve", "to_step": "Budget"},
            {"from_step": "Budget", "action": "approve", "to_step": None},
        ],
    }
    created = admin.post("/workflows/", body, format="json")
    assert created.status_code == 201, created.content
    assert [s["external_action"] for s in created.json()["steps"]] == ["", "bms_budget_check"]
    clone = admin.post(f"/workflows/{created.json()['id']}/new-version/").json()
    assert [s["external_action"] for s in clone["steps"]] == ["", "bms_budget_check"]

    body["steps"][1]["external_action"] = "fax_the_cfo"
    response = admin.post("/workflows/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["steps"] == {"1": {"external_action": ['"fax_the_cfo" is not a valid choice.']}}


# --- Integration health --------------------------------------------------------------------------------------------
def test_integration_health_for_admins(ams, settings):
    settings.BMS_URL = ""
    integrations.decide(ExternalAction.AMS_RESERVE, RESERVATION)
    response = api_client(is_admin=True).get("/integrations/health/")
    assert response.status_code == 200
    rows = {row["name"]: row for row in response.json()}
    assert set(rows) == {"ams", "bms"}
    assert (rows["ams"]["status"], rows["ams"]["calls"], rows["ams"]["errors"], rows["ams"]["circuit_state"]) == (
        "ok", 1, 0, "closed",
    )  # fmt: skip
    assert rows["ams"]["last_success_at"] and rows["ams"]["last_latency_ms"] > 0
    assert (rows["bms"]["status"], rows["bms"]["configured"], rows["bms"]["calls"]) == ("not_configured", False, 0)

    ams.answer(503, {})
    with pytest.raises(integrations.IntegrationFailure):
        integrations.decide(ExternalAction.AMS_RESERVE, RESERVATION)
    row = next(r for r in api_client(is_admin=True).get("/integrations/health/").json() if r["name"] == "ams")
    assert (row["status"], row["errors"]) == ("degraded", 1) and "HTTP 503" in row["last_error"]


def test_integration_health_is_for_admins_only():
    assert api_client(role_with_users(1)[1][0]).get("/integrations/health/").status_code == 403
    from rest_framework.test import APIClient

    assert APIClient().get("/integrations/health/").status_code == 401
