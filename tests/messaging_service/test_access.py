"""Who sees a ticket's comments when WORKFLOW_API_URL is set: the workflow API (a real HTTP stand-in) decides."""
from __future__ import annotations

import pytest

from messaging_service.models import Comment

from .conftest import caller

pytestmark = pytest.mark.django_db

URL = "/api/comments/"


@pytest.fixture
def workflow(upstream, settings):
    settings.WORKFLOW_API_URL = upstream.url
    return upstream


def test_assignee_and_owner_see_the_ticket_others_do_not(api, workflow, alice, bob, ticket):
    carol = caller(103, "carol")
    workflow.add_task(ticket, assigned_user=alice.id, owner=carol.id)
    created = api(alice).post(URL, {"ticket_id": ticket, "text": "hi"}, format="json")
    assert created.status_code == 201
    assert api(carol).get(URL, {"ticket_id": ticket}).json()["count"] == 1

    for response in (
        api(bob).get(URL, {"ticket_id": ticket}),
        api(bob).get(f"{URL}{created.json()['id']}/"),
        api(bob).post(URL, {"ticket_id": ticket, "text": "let me in"}, format="json"),
        api(bob).delete(f"{URL}{created.json()['id']}/"),
    ):
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
    assert list(Comment.objects.values_list("text", "is_deleted")) == [("hi", False)]


def test_admin_sees_every_ticket_even_when_the_workflow_api_is_down(api, workflow, admin, ticket):
    assert api(admin).get(URL, {"ticket_id": ticket}).status_code == 200
    workflow.failing = True
    assert api(admin).get(URL, {"ticket_id": "T-other"}).status_code == 200


def test_workflow_api_down_is_503_for_agents(api, workflow, alice, ticket):
    workflow.add_task(ticket, assigned_user=alice.id)
    workflow.failing = True
    response = api(alice).post(URL, {"ticket_id": ticket, "text": "hi"}, format="json")
    assert response.status_code == 503 and response.json()["code"] == "service_unavailable"
    assert not Comment.objects.exists()


def test_answers_are_cached_briefly(api, workflow, alice, ticket):
    workflow.add_task(ticket, assigned_user=alice.id)
    for _ in range(3):
        assert api(alice).get(URL, {"ticket_id": ticket}).status_code == 200
    assert workflow.requests == ["/tasks/"]


def test_without_workflow_api_any_authenticated_user_sees_comments(api, upstream, alice, ticket):
    assert api(alice).get(URL, {"ticket_id": ticket}).status_code == 200
    assert upstream.requests == []
