"""GET /audit/: admins only, filters, pagination."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.workflow_api.factories import UserFactory, api_client
from workflow_api.services.audit import audit_event, record_events

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def events():
    record_events(
        [
            audit_event("workflow.created", entity_type="workflow", entity_id="7", actor_id=1, at=T0),
            audit_event("task.approved", entity_type="task", entity_id="a", actor_id=5, ticket_id="T-1", at=T0 + timedelta(hours=1)),
            audit_event("task.approved", entity_type="task", entity_id="b", actor_id=6, ticket_id="T-2", at=T0 + timedelta(hours=2)),
        ]
    )


def actions(response) -> list[tuple[str, str]]:
    assert response.status_code == 200, response.content
    return [(row["action"], row["entity_id"]) for row in response.json()["results"]]


def test_admins_list_newest_first_with_filters(events):
    admin = api_client(is_admin=True)
    assert actions(admin.get("/audit/")) == [("task.approved", "b"), ("task.approved", "a"), ("workflow.created", "7")]
    assert actions(admin.get("/audit/?action=task.approved&actor_id=5")) == [("task.approved", "a")]
    assert actions(admin.get("/audit/?entity_type=workflow&entity_id=7")) == [("workflow.created", "7")]
    assert actions(admin.get("/audit/?ticket_id=T-2")) == [("task.approved", "b")]
    window = "occurred_after=2025-03-01T12:30:00Z&occurred_before=2025-03-01T14:30:00Z"
    assert actions(admin.get(f"/audit/?{window}")) == [("task.approved", "b"), ("task.approved", "a")]
    body = admin.get("/audit/?page_size=1").json()
    assert body["count"] == 3 and body["next"] and body["results"][0]["occurred_at"] == "2025-03-01T14:00:00Z"


@pytest.mark.parametrize("query", ["occurred_after=yesterday", "actor_id=me"])
def test_bad_filters_are_400(events, query):
    response = api_client(is_admin=True).get(f"/audit/?{query}")
    assert response.status_code == 400 and response.json()["errors"]


def test_agents_are_forbidden(events):
    response = api_client(UserFactory()).get("/audit/")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"


def test_filters_by_actor_name_and_task_and_lists_event_types(events):
    task_id = "0b6a3f55-3c3a-4a4b-9a55-d1d9c1d6a001"
    record_events(
        [audit_event("task.created", entity_type="task", entity_id=task_id, actor_username="Coord1", ticket_id="T-3", at=T0)]
    )
    admin = api_client(is_admin=True)
    assert actions(admin.get("/audit/?actor=coord1")) == [("task.created", task_id)]
    assert actions(admin.get(f"/audit/?task={task_id}")) == [("task.created", task_id)]
    assert admin.get("/audit/?task=not-a-uuid").status_code == 400
    assert admin.get("/audit/actions/").json() == {"actions": ["task.approved", "task.created", "workflow.created"]}
    assert api_client(UserFactory()).get("/audit/actions/").status_code == 403
