"""POST /tasks/{id}/actions/: each action's effect, who may act, state rules, and concurrency."""
from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from kombu import Connection

from tests.workflow_api.factories import (
    RoleFactory,
    TransitionFactory,
    UserFactory,
    UserRoleFactory,
    api_client,
    deployed_workflow,
    ingested_task,
    two_step_setup,
)
from tts_common import contracts
from workflow_api.models import Assignment, AuditEvent, StepInstance, Task, WorkflowTransition

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup():
    return two_step_setup()


class Published:
    """What the engine published to RabbitMQ (after commit), drained from the queues: (task name, kwargs or args)."""

    ROUTES = (contracts.ASSIGNMENT_NOTIFICATION, contracts.INAPP_NOTIFICATION, contracts.TICKET_STATUS)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.messages: list[tuple[str, Any]] = []

    def __call__(self) -> list[tuple[str, Any]]:
        for route in self.ROUTES:
            queue = contracts.declared_queue(route.queue)(self.conn.default_channel)
            while (message := queue.get(no_ack=True)) is not None:
                args, kwargs, _ = message.decode()  # Celery message protocol 2
                self.messages.append((message.headers["task"], kwargs or args))
        return self.messages

    def clear(self) -> None:
        self()
        self.messages.clear()


@pytest.fixture
def published(broker) -> Published:
    return Published(broker)


def inapp(published: Published, notification_type: str) -> list[int]:
    return [
        kw["user_id"]
        for name, kw in published()
        if name == contracts.INAPP_NOTIFICATION.task and kw["notification_type"] == notification_type
    ]


def statuses(published: Published) -> list[str]:
    return [args[1] for name, args in published() if name == contracts.TICKET_STATUS.task]


def test_approve_moves_to_the_next_role_then_completes(setup, act, published):
    workflow, users = setup
    task = ingested_task("T-1")
    agent = task.assigned_user
    published.clear()

    response = act(task, agent, action="approve", notes="looks like the switch")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["current_step_name"] == "Step 2" and body["status"] == "in_progress"
    engineer_id = body["assigned_user"]
    assert engineer_id in {u.user_id for u in users["engineers"]}
    first, second = body["step_history"]
    assert (first["status"], first["acted_by"], first["notes"]) == ("approved", agent.user_id, "looks like the switch")
    assert first["ended_at"] and second["status"] == "active"
    assert [(a["user_id"], a["ended_at"] is None) for a in body["assignments"]] == [
        (agent.user_id, False),
        (engineer_id, True),
    ]
    assert [kw["user_id"] for name, kw in published() if name == contracts.ASSIGNMENT_NOTIFICATION.task] == [engineer_id]
    assert statuses(published) == []  # still in progress

    engineer = Task.objects.get(pk=task.pk).assigned_user
    body = act(task, engineer, action="approve").json()
    assert body["status"] == "completed" and body["completed_at"]
    assert body["current_step"] is None and body["assigned_user"] is None
    assert [s["status"] for s in body["step_history"]] == ["approved", "approved"]
    assert all(a["ended_at"] for a in body["assignments"])
    assert statuses(published) == ["completed"]
    assert sorted(inapp(published, "task_completed")) == sorted({task.owner_id, engineer_id})
    actions = list(AuditEvent.objects.filter(ticket_id="T-1").values_list("action", flat=True))
    assert {"task.approved", "task.closed", "step.closed", "step.entered"} <= set(actions)
    closed = AuditEvent.objects.get(action="task.closed", ticket_id="T-1")
    assert closed.data["outcome"] == "completed" and closed.actor_id == engineer_id


def test_reject_without_a_transition_to_a_step_ends_the_task(setup, act, published):
    task = ingested_task("T-1")
    body = act(task, task.assigned_user, action="reject", notes="duplicate").json()
    assert body["status"] == "rejected" and body["step_history"][0]["status"] == "rejected"
    assert statuses(published) == ["rejected"]
    assert AuditEvent.objects.filter(action="task.rejected", data__notes="duplicate").exists()


def test_reject_follows_its_transition(setup, act):
    workflow, users = setup
    task = ingested_task("T-1")
    step1, step2 = workflow.steps.order_by("order")
    act(task, task.assigned_user, action="approve")
    WorkflowTransition.objects.filter(from_step=step2, action="reject").update(to_step=step1)
    task.refresh_from_db()
    body = act(task, task.assigned_user, action="reject").json()
    assert body["status"] == "in_progress" and body["current_step"] == step1.pk
    assert body["assigned_user"] in {u.user_id for u in users["agents"]}


def test_escalate_without_a_transition_goes_to_the_owner(setup, act, published):
    task = ingested_task("T-1")
    agent = task.assigned_user
    body = act(task, agent, action="escalate", notes="need help").json()
    assert body["assigned_user"] == task.owner_id and body["current_step_name"] == "Step 1"
    assert body["step_history"][0]["status"] == "active"  # same step, new holder
    assert body["assignments"][-1]["reason"] == "escalation" and body["assignments"][0]["ended_at"]
    assert inapp(published, "task_escalation") == [task.owner_id]
    # The coordinator now holds it and can send it on, or hand it back to a user of the step's role.
    assert act(task, task.owner, action="transfer", to_user=agent.user_id).status_code == 200
    # The original agent still sees the task through its history even while someone else held it.
    assert api_client(agent).get(f"/tasks/{task.task_id}/").status_code == 200


def test_escalate_follows_its_transition(setup, act, published):
    workflow, users = setup
    step1, step2 = workflow.steps.order_by("order")
    TransitionFactory(workflow=workflow, from_step=step1, action="escalate", to_step=step2)
    task = ingested_task("T-1")
    body = act(task, task.assigned_user, action="escalate").json()
    assert body["current_step"] == step2.pk and body["step_history"][0]["status"] == "escalated"
    assert inapp(published, "task_escalation") == [task.owner_id]


def test_escalate_with_no_coordinator_available_is_409(act):
    role, lonely = RoleFactory(), UserFactory()
    UserRoleFactory(role=role, user=lonely)
    deployed_workflow(step_roles=[role], coordinator_role=role, category="IT Support", sub_category="Network")
    task = ingested_task("T-1")
    assert task.assigned_user_id == task.owner_id == lonely.user_id
    assert act(task, lonely, action="escalate").status_code == 409


def test_transfer(setup, act, published):
    _, users = setup
    task = ingested_task("T-1")
    old = task.assigned_user
    new = next(u for u in users["agents"] if u.user_id != old.user_id)
    body = act(task, old, action="transfer", to_user=new.user_id, notes="on leave").json()
    assert body["assigned_user"] == new.user_id
    assert [(a["user_id"], a["reason"], a["ended_at"] is None) for a in body["assignments"]] == [
        (old.user_id, "round_robin", False),
        (new.user_id, "transfer", True),
    ]
    assert inapp(published, "task_transfer_out") == [old.user_id]
    assert inapp(published, "task_transfer_in") == [new.user_id]
    assert AuditEvent.objects.filter(action="task.transferred", data__to_user=new.user_id).exists()
    assert act(task, old, action="approve").status_code == 403  # no longer the assignee


@pytest.mark.parametrize(
    "body, field",
    [
        ({"action": "transfer"}, "to_user"),
        ({"action": "transfer", "to_user": "abc"}, "to_user"),
        ({"action": "approve", "to_user": 5}, "to_user"),
        ({"action": "fly"}, "action"),
        ({}, "action"),
        ({"action": "approve", "notes": ["x"]}, "notes"),
    ],
)
def test_bad_bodies_are_400_and_change_nothing(setup, act, body, field):
    task = ingested_task("T-1")
    before = AuditEvent.objects.count()
    response = act(task, task.assigned_user, **body)
    assert response.status_code == 400 and field in response.json()["errors"], response.content
    assert AuditEvent.objects.count() == before and StepInstance.objects.get().status == "active"


def test_transfer_target_must_be_an_active_user_of_the_step_role(setup, act):
    _, users = setup
    task = ingested_task("T-1")
    inactive = next(u for u in users["agents"] if u.user_id != task.assigned_user_id)
    inactive.is_active = False
    inactive.save()
    for to_user in (users["engineers"][0].user_id, 999999, inactive.user_id, task.assigned_user_id):
        response = act(task, task.assigned_user, action="transfer", to_user=to_user)
        assert response.status_code == 400 and "to_user" in response.json()["errors"]
    assert Assignment.objects.count() == 1


def test_hold_and_resume_pause_the_sla_clock(setup, act, published, monkeypatch):
    task = ingested_task("T-1")
    agent = task.assigned_user
    body = act(task, agent, action="hold").json()
    assert body["status"] == "on_hold" and body["on_hold_since"]
    for action in ("approve", "reject", "escalate", "hold"):
        response = act(task, agent, action=action)
        assert response.status_code == 409 and response.json()["code"] == "conflict"
    assert act(task, agent, action="transfer", to_user=agent.user_id).status_code == 409

    # Resumed two hours later: the deadlines follow the pause log.
    two_hours_later = timezone.now() + timedelta(hours=2)
    monkeypatch.setattr(timezone, "now", lambda: two_hours_later)
    due_before = StepInstance.objects.get().due_at
    body = act(task, agent, action="resume").json()
    task_after = Task.objects.get()
    assert body["status"] == "in_progress" and body["on_hold_since"] is None
    [pause] = body["pauses"]
    assert pause["reason"] == "on_hold" and pause["ended_at"] and pause["started_by"] == pause["ended_by"] == agent.user_id
    assert timedelta(hours=2) <= task_after.sla_deadline - task.sla_deadline < timedelta(hours=2, seconds=30)
    assert timedelta(hours=2) <= StepInstance.objects.get().due_at - due_before < timedelta(hours=2, seconds=30)
    assert act(task, agent, action="resume").status_code == 409
    assert statuses(published) == ["on_hold", "in_progress"]
    assert {"task.held", "task.resumed"} <= set(AuditEvent.objects.values_list("action", flat=True))


def test_who_may_act(setup, act):
    _, users = setup
    task = ingested_task("T-1")
    stranger = UserFactory()
    assert act(task, stranger, action="approve").status_code == 404  # cannot even see it
    response = act(task, task.owner, action="approve")  # sees it (owner) but does not hold it
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert StepInstance.objects.get().status == "active"
    assert act(task, None, action="hold").status_code == 200  # admins may act on any task


def test_closed_tasks_accept_no_action(setup, act):
    task = ingested_task("T-1")
    act(task, task.assigned_user, action="reject")
    for action in ("approve", "reject", "escalate", "hold", "resume"):
        assert act(task, None, action=action).status_code == 409
    assert act(task, None, action="approve").json()["detail"] == "Cannot approve a task that is rejected."


def test_unknown_task(setup):
    response = api_client(is_admin=True).post(
        "/tasks/00000000-0000-0000-0000-000000000000/actions/", {"action": "approve"}, format="json"
    )
    assert response.status_code == 404


def test_pending_task_is_admins_to_move(act):
    empty, next_role = RoleFactory(), RoleFactory()
    deployed_workflow(step_roles=[empty, next_role], coordinator_role=empty, category="IT Support", sub_category="Network")
    task = ingested_task("T-1")
    assert task.status == "pending" and task.assigned_user_id is None
    body = act(task, None, action="approve").json()
    assert body["current_step_name"] == "Step 2" and body["status"] == "pending"


# --- Concurrency ---------------------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_concurrent_approvals_move_the_task_once():
    _, users = two_step_setup()
    for attempt in range(3):
        task = ingested_task(f"T-{attempt}")
        agent = task.assigned_user
        barrier = threading.Barrier(2)
        codes: list[int] = []

        def approve(agent=agent, barrier=barrier, codes=codes, task=task) -> None:
            client = api_client(agent)
            barrier.wait()
            try:
                codes.append(client.post(f"/tasks/{task.task_id}/actions/", {"action": "approve"}, format="json").status_code)
            finally:
                connection.close()  # each thread had its own database connection

        threads = [threading.Thread(target=approve) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # The loser waited on the row lock, then found the task no longer held by the agent.
        assert sorted(codes) == [200, 403]
        assert StepInstance.objects.filter(task=task, status="approved").count() == 1
        assert StepInstance.objects.filter(task=task, status="active").count() == 1
        assert Task.objects.get(pk=task.pk).current_step.name == "Step 2"
        assert AuditEvent.objects.filter(ticket_id=task.external_ticket_id, action="task.approved").count() == 1
