"""The whole life of a ticket on the real stack: HDTS publishes to RabbitMQ, a real worker turns it into a task,
agents act over real HTTP (ASGI server process), notifications and the final status travel back over the queues."""
from __future__ import annotations

from typing import Any

import pytest
import requests

from notification_service.models import InAppNotification
from tests.conftest import outside_celery_app, wait_for
from tests.workflow_api.factories import RoleFactory, UserFactory, UserRoleFactory, access_token
from ticket_service.models import TicketStatusUpdate
from tts_common import contracts
from workflow_api.models import UserReplica, Workflow
from workflow_api.services.demo import seed_demo_workflows

pytestmark = pytest.mark.django_db(transaction=True)


def demo_users() -> dict[str, list[int]]:
    """The DESIGN §6 roles and users, as the auth service's role sync leaves them in the replica."""
    members = {
        "IT Support Agent": ["agent1", "agent2", "agent3"],
        "Network Engineer": ["agent4", "agent5", "agent6"],
        "Ticket Coordinator": ["coord1", "coord2"],
        "Supervisor": ["super1"],
        "Budget Approver": ["budget1", "budget2"],
    }
    ids: dict[str, list[int]] = {}
    for role_name, usernames in members.items():
        role = RoleFactory(name=role_name, system="TTS")
        ids[role_name] = [UserRoleFactory(role=role, user=UserFactory(username=name)).user_id for name in usernames]
    return ids


class Api:
    """An HTTP client of the running server, as one user."""

    def __init__(self, base_url: str, user_id: int, username: str, *, is_admin: bool = False) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {access_token(user_id, username, is_admin=is_admin)}"}

    def get(self, path: str) -> Any:
        response = requests.get(self.base_url + path, headers=self.headers, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def act(self, task_id: str, action: str, **body: Any) -> dict[str, Any]:
        response = requests.post(
            f"{self.base_url}/tasks/{task_id}/actions/", json={"action": action, **body}, headers=self.headers, timeout=10
        )
        assert response.status_code == 200, response.text
        return response.json()


def test_ticket_from_hdts_to_completed(asgi_server, celery_worker):
    users = demo_users()
    seed_demo_workflows()
    seed_demo_workflows()  # idempotent
    assert Workflow.objects.filter(status="deployed").count() == 2
    usernames = dict(UserReplica.objects.values_list("user_id", "username"))
    celery_worker()  # every queue: tickets, role sync, notifications, ticket status
    server = asgi_server()
    admin = Api(server.url, 1, "admin", is_admin=True)

    hdts = outside_celery_app()
    ticket = {
        "ticket_id": "HD-2001",
        "title": "Office Wi-Fi drops every hour",
        "category": "IT Support",
        "sub_category": "Network",
        "priority": "high",
        "requester_email": "pat@example.com",
    }
    hdts.send_task(contracts.RECEIVE_TICKET.task, kwargs={"ticket_data": ticket}, queue=contracts.RECEIVE_TICKET.queue)

    found = wait_for(lambda: admin.get("/tasks/?external_ticket_id=HD-2001")["results"], message="the task")
    task = found[0]
    assert task["current_step_name"] == "Triage" and task["status"] == "in_progress" and task["priority"] == "urgent"
    agent_id = task["assigned_user"]
    assert agent_id in users["IT Support Agent"] and task["owner"] in users["Ticket Coordinator"]

    agent = Api(server.url, agent_id, usernames[agent_id])
    assert [t["task_id"] for t in agent.get("/tasks/?mine=true")["results"]] == [task["task_id"]]
    moved = agent.act(task["task_id"], "approve", notes="Access point 3 flaps; needs a network engineer")
    assert moved["current_step_name"] == "Fix" and moved["role_name"] == "Network Engineer"
    engineer_id = moved["assigned_user"]
    assert engineer_id in users["Network Engineer"]

    engineer = Api(server.url, engineer_id, usernames[engineer_id])
    done = engineer.act(task["task_id"], "approve", notes="Firmware updated")
    assert done["status"] == "completed" and done["current_step"] is None
    assert [(s["step_name"], s["status"], s["acted_by"]) for s in done["step_history"]] == [
        ("Triage", "approved", agent_id),
        ("Fix", "approved", engineer_id),
    ]

    audit = {event["action"] for event in admin.get("/audit/?ticket_id=HD-2001&page_size=100")["results"]}
    assert {"task.created", "task.assigned", "step.entered", "task.approved", "step.closed", "task.closed"} <= audit

    # The notification service stored what the engine published, and ticket_service got the final status.
    expected = {
        (agent_id, "task_assignment"),
        (engineer_id, "task_assignment"),
        (engineer_id, "task_completed"),
        (task["owner"], "task_completed"),
    }

    def notifications() -> set[tuple[int, str]]:
        return set(
            InAppNotification.objects.filter(related_ticket_id="HD-2001").values_list("user_id", "notification_type")
        )

    wait_for(lambda: expected <= notifications(), message=f"notifications {expected}")
    wait_for(
        lambda: TicketStatusUpdate.objects.filter(ticket_id="HD-2001", status="completed").exists(),
        message="the completed status back in ticket_service",
    )
