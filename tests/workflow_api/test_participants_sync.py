"""workflow_api tells messaging_service who takes part in each ticket (``messaging.ticket_participants.sync``) after
every commit that assigns a task: intake (one message per batch), transfer, SLA escalation, reassignment when an
assignee becomes unavailable; and ``manage.py sync_ticket_participants`` sends every task's again."""
from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from kombu import Connection

from tests.workflow_api.factories import api_client, ingested_task, role_with_users, two_step_setup
from tts_common import contracts
from workflow_api.models import Task
from workflow_api.services.assignment import release_user_tasks
from workflow_api.services.ingestion import IncomingTicket, ingest_tickets
from workflow_api.services.sla import sla_scan

pytestmark = pytest.mark.django_db


def synced(broker: Connection) -> list[list[dict]]:
    """Drain the participants queue: each message's ``tasks``."""
    channel = broker.default_channel
    messages = []
    while (message := channel.basic_get(contracts.TICKET_PARTICIPANTS.queue, no_ack=True)) is not None:
        assert message.headers["task"] == contracts.TICKET_PARTICIPANTS.task
        _args, kwargs, _embed = json.loads(message.body)
        messages.append(kwargs["tasks"])
    return messages


def snapshot(task: Task, *users) -> dict:
    return {
        "ticket_id": task.external_ticket_id,
        "task_id": str(task.task_id),
        "participants": sorted(({"user_id": u.user_id, "username": u.username} for u in users), key=lambda p: p["user_id"]),
    }


@pytest.fixture
def setup():
    return two_step_setup()


def test_an_intake_batch_is_one_message_with_every_new_tasks_owner_and_assignee(
    setup, broker, django_capture_on_commit_callbacks
):
    tickets = [
        IncomingTicket(
            ticket_id=f"T-{i}",
            data={"ticket_id": f"T-{i}", "title": "t", "category": "IT Support", "sub_category": "Network", "priority": "low"},
            received_at=timezone.now(),
        )
        for i in range(5)
    ]  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        tasks = ingest_tickets(tickets)
    assert synced(broker) == [[snapshot(task, task.owner, task.assigned_user) for task in tasks]]


def test_a_transfer_sends_the_whole_set_the_former_assignee_included(setup, broker, django_capture_on_commit_callbacks):
    _, users = setup
    with django_capture_on_commit_callbacks(execute=True):
        task = ingested_task("T-1")
    synced(broker)
    old = task.assigned_user
    new = next(u for u in users["agents"] if u.user_id != old.user_id)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(old).post(
            f"/tasks/{task.task_id}/actions/", {"action": "transfer", "to_user": new.user_id}, format="json"
        )
    assert response.status_code == 200
    assert synced(broker) == [[snapshot(task, task.owner, old, new)]]


def test_reassignment_of_an_unavailable_assignees_tasks_is_sent(setup, broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        task = ingested_task("T-1")
    synced(broker)
    old = task.assigned_user
    with django_capture_on_commit_callbacks(execute=True):
        assert release_user_tasks(old.user_id, reason="unavailable") == 1
    task.refresh_from_db()
    assert task.assigned_user_id not in (None, old.user_id)
    assert synced(broker) == [[snapshot(task, task.owner, old, task.assigned_user)]]


def test_an_sla_escalation_is_sent(setup, broker, django_capture_on_commit_callbacks):
    workflow, _ = setup
    workflow.escalation_role, supervisors = role_with_users(1, name="Supervisors")
    workflow.save()
    with django_capture_on_commit_callbacks(execute=True):
        task = ingested_task("T-1", created_at=(timezone.now() - timedelta(days=30)).isoformat())
    synced(broker)
    old = task.assigned_user
    with django_capture_on_commit_callbacks(execute=True):
        sla_scan()
    assert synced(broker) == [[snapshot(task, task.owner, old, supervisors[0])]]


def test_the_backfill_command_sends_every_task_in_chunks(setup, broker, monkeypatch, django_capture_on_commit_callbacks):
    tasks = [ingested_task(f"T-{i}") for i in range(3)]  # on_commit not run: nothing sent at intake
    assert synced(broker) == []
    monkeypatch.setattr("workflow_api.services.notify.PARTICIPANT_SYNC_CHUNK", 2)
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):  # the test's transaction; the command runs outside one
        call_command("sync_ticket_participants", stdout=out)
    assert out.getvalue().strip() == "3 task(s) sent"
    expected = [snapshot(t, t.owner, t.assigned_user) for t in sorted(tasks, key=lambda t: t.task_id)]
    assert synced(broker) == [expected[:2], expected[2:]]
