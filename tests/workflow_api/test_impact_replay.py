"""The impact replay (selectors/impact.py, POST /workflows/{id}/impact/): its diff for a prepared set of tickets is
the difference that ingesting them under the new version then shows, and it changes nothing, publishes nothing."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.utils import timezone

from tests.conftest import queue_depth
from tests.workflow_api.factories import api_client, two_step_setup
from tts_common import contracts
from workflow_api.models import RoundRobinCursor, Task, Workflow
from workflow_api.selectors.impact import workflow_impact
from workflow_api.selectors.workflows import workflow_get
from workflow_api.services.ingestion import IncomingTicket, ingest_tickets
from workflow_api.services.workflows import workflow_create, workflow_deploy, workflow_new_version, workflow_update

pytestmark = pytest.mark.django_db

COMPARED = {"workflow": "workflow_lineage", "first_step": "step", "deadline": "sla_deadline", "assignee_role": "role_id"}


def _ticket(ticket_id: str, sub_category: str, priority: str, category: str = "IT Support") -> dict[str, Any]:
    return {"ticket_id": ticket_id, "title": f"Ticket {ticket_id}", "category": category, "sub_category": sub_category,
            "priority": priority, "created_at": "2026-11-30T09:00:00Z"}  # fmt: skip


TICKETS = [
    _ticket("N-1", "Network", "medium"),
    _ticket("N-2", "Network", "high"),
    _ticket("N-3", "Network", "low"),
    _ticket("P-1", "Printer", "medium"),  # unrouted until a Printer workflow is deployed
    _ticket("F-1", "Chairs", "low", category="Facilities"),  # unrouted throughout
]


def _ingest(suffix: str = "") -> None:
    ingest_tickets(
        [IncomingTicket(ticket_id=t["ticket_id"] + suffix, data={**t, "ticket_id": t["ticket_id"] + suffix},
                        received_at=timezone.now()) for t in TICKETS]  # fmt: skip
    )


def _placement(ticket_id: str) -> dict[str, Any]:
    """Where intake actually put the ticket (all None: unrouted)."""
    task = Task.objects.select_related("workflow", "current_step").filter(external_ticket_id=ticket_id).first()
    if task is None:
        return dict.fromkeys(COMPARED.values())
    return {"workflow_lineage": str(task.workflow.lineage), "step": task.current_step.name,
            "role_id": task.current_step.role_id, "sla_deadline": task.sla_deadline}  # fmt: skip


def _new_version_with_another_first_step(deployed: Workflow, people: dict) -> Workflow:
    """Engineers take the first step (renamed), the high-priority SLA is halved."""
    draft = workflow_new_version(workflow_id=deployed.pk, actor=None)
    engineers = deployed.steps.get(order=2).role_id
    workflow_update(
        workflow_id=draft.pk,
        actor=None,
        data={
            "sla_hours": {"low": 72, "medium": 48, "high": 12, "urgent": 4},
            "steps": [{"name": "Intake", "order": 1, "role_id": engineers, "sla_weight": Decimal(100)}],
            "transitions": [{"from_step": "Intake", "action": "approve", "to_step": None}],
        },
    )
    return draft


def _new_workflow_for_unrouted_tickets(deployed: Workflow, people: dict) -> Workflow:
    agents = deployed.steps.get(order=1).role_id
    return workflow_create(
        actor=None,
        data={
            "name": "Printers", "category": "IT Support", "sub_category": "Printer",
            "coordinator_role_id": deployed.coordinator_role_id, "sla_hours": {"low": 10, "medium": 5, "high": 3, "urgent": 1},
            "steps": [{"name": "Printer fix", "order": 1, "role_id": agents, "sla_weight": Decimal(100)}],
            "transitions": [{"from_step": "Printer fix", "action": "approve", "to_step": None}],
        },  # fmt: skip
    )


@pytest.mark.parametrize(
    "make_draft",
    [_new_version_with_another_first_step, _new_workflow_for_unrouted_tickets],
    ids=["new-version", "new-workflow-for-unrouted"],
)
def test_the_replay_diff_is_what_ingesting_the_tickets_under_the_new_version_then_shows(
    make_draft: Callable[[Workflow, dict], Workflow],
):
    deployed, people = two_step_setup()
    _ingest()
    draft = make_draft(deployed, people)
    impact = workflow_impact(workflow_get(workflow_id=draft.pk), limit=1000, now=timezone.now())

    before = {t["ticket_id"]: _placement(t["ticket_id"]) for t in TICKETS}
    workflow_deploy(workflow_id=draft.pk, actor=None)
    _ingest("-again")  # the same tickets under the new version
    after = {t["ticket_id"]: _placement(t["ticket_id"] + "-again") for t in TICKETS}

    shown = {}
    for ticket_id in before:
        changes = [name for name, key in COMPARED.items() if before[ticket_id][key] != after[ticket_id][key]]
        if changes:
            shown[ticket_id] = (changes, before[ticket_id], after[ticket_id])
    assert shown, "the draft changes something"
    assert impact["tickets"] == len(TICKETS)
    assert {
        c["ticket_id"]: (c["changes"], {k: c["before"][k] for k in COMPARED.values()}, {k: c["after"][k] for k in COMPARED.values()})
        for c in impact["changed"]
    } == shown

    loads = [Counter(p["role_id"] for p in side.values() if p["role_id"]) for side in (before, after)]
    assert {row["role_id"]: (row["before"], row["after"], row["change"]) for row in impact["load"]} == {
        role_id: (loads[0][role_id], loads[1][role_id], loads[1][role_id] - loads[0][role_id])
        for role_id in loads[0] | loads[1]
        if loads[0][role_id] != loads[1][role_id]
    }


def _state() -> dict[str, Any]:
    counts = {model.__name__: model.objects.count() for model in apps.get_app_config("workflow_api").get_models()}
    return {**counts, "cursors": list(RoundRobinCursor.objects.order_by("role_id").values_list())}


def test_the_api_replays_with_a_proposed_calendar_and_writes_and_publishes_nothing(broker, django_capture_on_commit_callbacks):
    deployed, _ = two_step_setup()
    _ingest()
    state = _state()
    depths = {name: queue_depth(broker, name) for name in contracts.ALL_CONSUMED_QUEUES}
    # Mondays 09:00-10:00 only: every routed ticket's deadline moves, nothing else does.
    calendar = {"time_zone": "UTC", "weekly_hours": {"mon": [["09:00", "10:00"]]}}
    with django_capture_on_commit_callbacks() as published:
        response = api_client(is_admin=True).post(
            f"/workflows/{deployed.pk}/impact/", {"limit": 1000, "calendar": calendar}, format="json"
        )
    assert response.status_code == 200, response.content
    result = response.json()
    assert result["tickets"] == 5 and result["load"] == []
    assert sorted((c["ticket_id"], c["changes"]) for c in result["changed"]) == [
        ("N-1", ["deadline"]), ("N-2", ["deadline"]), ("N-3", ["deadline"])
    ]  # fmt: skip
    assert published == []
    assert _state() == state
    assert {name: queue_depth(broker, name) for name in contracts.ALL_CONSUMED_QUEUES} == depths

    limited = api_client(is_admin=True).post(f"/workflows/{deployed.pk}/impact/", {"limit": 2}, format="json").json()
    assert limited["tickets"] == 2


def test_the_api_refuses_agents_bad_limits_and_bad_calendars():
    deployed, people = two_step_setup()
    url = f"/workflows/{deployed.pk}/impact/"
    assert api_client(people["agents"][0]).post(url, {}, format="json").status_code == 403
    admin = api_client(is_admin=True)
    for body, field in [({"limit": 1001}, "limit"), ({"limit": 0}, "limit"),
                        ({"calendar": {"time_zone": "Mars/Base", "weekly_hours": {}}}, "time_zone")]:  # fmt: skip
        response = admin.post(url, body, format="json")
        assert response.status_code == 400 and field in str(response.json()["errors"]), response.content
    assert admin.post("/workflows/999999/impact/", {}, format="json").status_code == 404
