"""The deployed HDTS (mrccdrc27/MAP-SYSTEM, hdts/helpdesk/core) as it publishes today, on the real stack: a plain
Celery app sends its tickets as the first positional argument in its own field names, and its Closed / Withdrawn
statuses as ``tts.tasks.receive_hdts_ticket_status`` on the same queue; a real worker makes, closes and cancels
tasks. What we tell it back (owner, statuses in its values) lands on the queue its worker consumes."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import datetime
from itertools import count
from threading import Lock
from typing import Any

import pytest
import requests
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from kombu import Connection

from tests.conftest import outside_celery_app, queue_depth, run_concurrently, wait_for
from tests.workflow_api.factories import access_token, deployed_workflow, role_with_users
from tts_common import contracts
from tts_common.http.auth import TokenUser
from workflow_api.models import (
    AuditEvent,
    IntegrationError,
    PendingHdtsStatus,
    ReportDelta,
    ReportEvent,
    StepInstance,
    Task,
    TaskPause,
)
from workflow_api.services import actions, hdts_status, ingestion
from workflow_api.services.reports import rollup_differences

pytestmark = pytest.mark.django_db(transaction=True)

ADMIN = TokenUser({"user_id": 1, "username": "admin", "is_admin": True, "roles": {}})
HDTS_QUEUE = "ticket_tasks2"  # what the deployed HDTS's worker consumes (its celery.sh), and none of ours
LONG_SUBJECT = "Laptop cannot reach the VPN after the latest update " * 6  # > 200 characters


def hdts_ticket(number: str, **fields: Any) -> dict[str, Any]:
    """A ticket exactly as the deployed HDTS's ``send_ticket_to_workflow`` builds it (core/models.py)."""
    return {
        "id": 4821,
        "ticket_number": number,
        "subject": "Printer on the 3rd floor jams",
        "category": "IT Support",
        "sub_category": "Technical Assistance",
        "description": "It jams on every second page.",
        "ticket_owner_id": None,
        "scheduled_date": None,
        "priority": "Medium",
        "department": "IT Department",
        "asset_name": None,
        "serial_number": None,
        "location": None,
        "expected_return_date": None,
        "issue_type": None,
        "other_issue": None,
        "performance_start_date": None,
        "performance_end_date": None,
        "approved_by": None,
        "rejected_by": None,
        "cost_items": None,
        "requested_budget": None,
        "fiscal_year": None,
        "department_input": None,
        "dynamic_data": None,
        "status": "Open",
        "submit_date": "2026-12-04T12:34:56.123456+08:00",
        "update_date": "2026-12-04T12:35:02.000001+08:00",
        "rejection_reason": None,
        "date_completed": None,
        "csat_rating": None,
        "feedback": None,
        "employee_id": 17,
        "employee_company_id": "MA0017",
        "employee_email": "juan.delacruz@example.com",
        "employee": {
            "first_name": "Juan",
            "last_name": "Dela Cruz",
            "email": "juan.delacruz@example.com",
            "company_id": "MA0017",
            "department": "IT Department",
        },
        "attachments": [],
        **fields,
    }


class DeployedHdts:
    """The deployed HDTS's Celery app: default settings, positional payloads, its task names."""

    def __init__(self) -> None:
        self.app = outside_celery_app()

    def push_ticket(self, ticket: dict[str, Any]) -> None:  # push_ticket_to_workflow.delay(ticket_data)
        self.app.send_task("tickets.tasks.receive_ticket", args=[ticket], queue="TICKET_TASKS_PRODUCTION")

    def sync_status(self, ticket_number: str, status: str, **additional: Any) -> None:  # sync_ticket_status_to_tts
        payload = {"ticket_number": ticket_number, "status": status, **additional}
        self.app.send_task("tts.tasks.receive_hdts_ticket_status", args=[payload], queue="TICKET_TASKS_PRODUCTION")


def drain(conn: Connection, queue: str) -> list[tuple[str, list[Any], dict[str, Any]]]:
    """(task, args, kwargs) of every message now on ``queue``, taken off it."""
    bound = contracts.declared_queue(queue)(conn.default_channel)
    messages = []
    while (message := bound.get(no_ack=True)) is not None:
        args, kwargs, _ = message.decode()
        messages.append((message.headers["task"], args, kwargs))
    return messages


@pytest.fixture
def hdts_queue(broker) -> str:
    contracts.declared_queue(HDTS_QUEUE)(broker.default_channel).declare()
    broker.default_channel.queue_purge(HDTS_QUEUE)
    return HDTS_QUEUE


@pytest.fixture
def workflows() -> dict[str, Any]:
    coordinators, coordinator_users = role_with_users(1, name="Ticket Coordinator")
    agents, _ = role_with_users(2, name="IT Support Agent")
    assets, _ = role_with_users(1, name="Asset Manager")
    budget, _ = role_with_users(1, name="Budget Approver")
    return {
        "it": deployed_workflow(
            step_roles=[agents], coordinator_role=coordinators, category="IT Support", sub_category="Technical Assistance"
        ),
        # The deployed HDTS sends no sub-category outside IT Support: workflows for those match it as blank.
        "asset": deployed_workflow(step_roles=[assets], coordinator_role=coordinators, category="Asset Check Out", sub_category=""),
        "budget": deployed_workflow(
            step_roles=[budget], coordinator_role=coordinators, category="New Budget Proposal", sub_category=""
        ),
        "coordinator": coordinator_users[0],
    }


def test_deployed_hdts_tickets_become_tasks_and_its_closed_and_withdrawn_end_them(
    workflows, broker, hdts_queue, celery_worker, asgi_server
):
    # The deployed HDTS does not sign: its messages are taken while signing is off.
    env = {"HDTS_SIGNING_SECRET": "", "HDTS_STATUS_QUEUE": hdts_queue}
    celery_worker(queues=(contracts.RECEIVE_TICKET.queue,), env=env)
    hdts = DeployedHdts()
    it = hdts_ticket(
        "TX20261204123456",
        subject=LONG_SUBJECT,
        priority="Critical",
        attachments=[
            {"id": 91, "file_name": "error.png", "file_type": "image/png", "file_size": 48213,
             "file_path": "ticket_attachments/error_Ab3d.png"},
        ],  # fmt: skip
    )
    asset = hdts_ticket(
        "TX20261204223344",
        subject="Check out a projector",
        category="Asset Check Out",
        sub_category=None,
        priority=None,
        department="Asset Department",
        asset_name="Epson EB-X51",
        dynamic_data={"asset_id": "AST-20260110-00001-3451", "checkout_date": "2026-12-05", "return_date": "2026-12-12"},
        # Flattened by HDTS for asset tickets, as it does.
        asset_id="AST-20260110-00001-3451",
        checkout_date="2026-12-05",
        return_date="2026-12-12",
    )
    budget = hdts_ticket(
        "TX20261204334455",
        subject="Q1 training budget",
        category="New Budget Proposal",
        sub_category=None,
        priority="high",
        department="Budget Department",
        requested_budget="125000.00",
        cost_items=[{"description": "Seats", "amount": "125000.00"}],
        fiscal_year=2027,
    )
    # A Withdrawn that overtakes its ticket: kept, then applied when the ticket arrives.
    hdts.sync_status("TX20261204445566", "Withdrawn")
    wait_for(lambda: PendingHdtsStatus.objects.filter(ticket_id="TX20261204445566").exists(), timeout=30)
    late = hdts_ticket("TX20261204445566", subject="Mouse replacement")
    for ticket in (it, asset, budget, late):
        hdts.push_ticket(ticket)
    hdts.app.send_task("tickets.tasks.receive_ticket", args=[{"subject": "no id at all"}], queue="TICKET_TASKS_PRODUCTION")

    wait_for(lambda: Task.objects.count() == 4, timeout=60, message="4 tasks")
    tasks = {task.external_ticket_id: task for task in Task.objects.all()}

    # Mapped onto DESIGN §3 (then the configurable HDTS -> internal priority map: urgent->urgent, medium->high).
    task = tasks["TX20261204123456"]
    assert task.workflow_id == workflows["it"].pk
    assert task.title == LONG_SUBJECT[:200]
    assert task.priority == "urgent"  # Critical -> urgent
    assert task.ticket_created_at == datetime.fromisoformat("2026-12-04T04:34:56.123456+00:00")
    assert task.ticket_data["requester_name"] == "Juan Dela Cruz"
    assert task.ticket_data["requester_email"] == "juan.delacruz@example.com"
    [attachment] = task.ticket_data["attachments"]
    assert attachment["filename"] == "error.png" and attachment["file_path"] == "ticket_attachments/error_Ab3d.png"
    # Every other field stays with the ticket (HDTS's own priority as hdts_priority).
    assert {key: task.ticket_data[key] for key in it if key not in ("priority", "attachments")} == {
        key: value for key, value in it.items() if key not in ("priority", "attachments")
    }
    assert task.ticket_data["hdts_priority"] == "Critical" and task.ticket_data["hdts_form"] == "deployed"

    task = tasks["TX20261204223344"]
    assert task.workflow_id == workflows["asset"].pk  # null sub_category matched as empty
    assert task.priority == "high"  # null -> medium -> high
    assert task.ticket_data["asset_id"] == "AST-20260110-00001-3451"
    assert task.ticket_data["duration_days"] == 7
    assert task.ticket_data["dynamic_data"] == asset["dynamic_data"]

    task = tasks["TX20261204334455"]
    assert task.workflow_id == workflows["budget"].pk
    assert task.priority == "urgent"  # "high" (any case) -> high -> urgent
    assert task.ticket_data["amount"] == "125000.00"
    assert task.ticket_data["cost_items"] == budget["cost_items"]

    # The status that came first was applied on arrival.
    late_task = tasks["TX20261204445566"]
    assert late_task.status == Task.Status.CANCELLED
    assert not PendingHdtsStatus.objects.exists()

    # A message in neither shape: dead-lettered, its reason naming what each form misses.
    wait_for(lambda: queue_depth(broker, contracts.TICKET_DLQ) == 1, timeout=30, message="the dead letter")
    [letter] = [message.payload for message in _dlq_messages(broker)]
    assert letter["message"]["kwargs"] == {"ticket_data": {"subject": "no id at all"}}
    assert letter["reason"].startswith("validation: the ticket matches neither form: as DESIGN §3")
    assert "ticket_id: This field is required." in letter["reason"]
    assert letter["reason"].endswith("as the deployed HDTS's ticket (first positional argument): missing ticket_number, category")
    wait_for(lambda: IntegrationError.objects.count() == 1, timeout=10, message="the integration error")

    # The owner of each new ticket, and nothing else yet, to the deployed HDTS's queue with its task name.
    coordinator = workflows["coordinator"].user_id
    wait_for(lambda: queue_depth(broker, hdts_queue) >= 4, timeout=30, message="owner messages")
    told = drain(broker, hdts_queue)
    owners = sorted((args[0], args[1]) for name, args, _ in told if name == "update_ticket_owner")
    assert owners == sorted((number, coordinator) for number in tasks)
    assert [name for name, *_ in told if name != "update_ticket_owner"] == []

    # Closed with CSAT -> completed; Withdrawn -> cancelled (audited, people told); each sent twice (at least once).
    for _ in range(2):
        hdts.sync_status(
            "TX20261204123456", "Closed", csat_rating=5, feedback="Fixed fast, thanks!",
            date_completed="2026-12-06T09:00:00+08:00", time_closed="2026-12-06T09:00:00+08:00",
        )  # fmt: skip
        hdts.sync_status("TX20261204223344", "Withdrawn")
    closed = tasks["TX20261204123456"]
    withdrawn = tasks["TX20261204223344"]
    assignee = withdrawn.assigned_user_id
    wait_for(
        lambda: Task.objects.filter(pk__in=[closed.pk, withdrawn.pk], status__in=["completed", "cancelled"]).count() == 2,
        timeout=30,
        message="closed and cancelled",
    )
    closed.refresh_from_db()
    withdrawn.refresh_from_db()
    assert (closed.status, closed.csat_rating, closed.csat_feedback) == ("completed", 5, "Fixed fast, thanks!")
    assert closed.completed_at is not None and closed.assigned_user_id is None and closed.current_step_id is None
    assert withdrawn.status == "cancelled" and withdrawn.assigned_user_id is None
    assert StepInstance.objects.get(task=withdrawn).status == StepInstance.Status.CANCELLED
    assert StepInstance.objects.get(task=closed).status == StepInstance.Status.CLOSED
    assert not TaskPause.objects.filter(ended_at__isnull=True).exists()
    events = AuditEvent.objects.filter(action__in=["task.completed", "task.cancelled"])
    wait_for(lambda: events.count() == 3, timeout=10)  # once each, redeliveries included (+ the late ticket)
    event = events.get(ticket_id="TX20261204123456")
    assert event.actor_username == "HDTS" and event.data["csat_rating"] == 5
    assert event.data["date_completed"] == "2026-12-06T09:00:00+08:00"
    assert events.get(ticket_id="TX20261204223344").data["by"] == "HDTS"
    wait_for(lambda: queue_depth(broker, contracts.INAPP_NOTIFICATION.queue) >= 1, timeout=10)
    inapp = [kwargs for _, _, kwargs in drain(broker, contracts.INAPP_NOTIFICATION.queue)]
    cancelled_notices = [n for n in inapp if n["related_ticket_id"] == "TX20261204223344"]
    assert {n["user_id"] for n in cancelled_notices} == {assignee, coordinator}
    assert all(n["metadata"]["outcome"] == "cancelled" for n in cancelled_notices)
    # HDTS made these changes: nothing is sent back to it about them.
    assert drain(broker, hdts_queue) == []

    # The task detail API shows the CSAT; a status change of ours reaches HDTS in its own values.
    server = asgi_server(env=env)
    headers = {"Authorization": f"Bearer {access_token(1, 'admin', is_admin=True)}"}
    detail = requests.get(f"{server.url}/tasks/{closed.task_id}/", headers=headers, timeout=10).json()
    assert (detail["status"], detail["csat_rating"], detail["csat_feedback"]) == ("completed", 5, "Fixed fast, thanks!")
    budget_task = tasks["TX20261204334455"]
    response = requests.post(
        f"{server.url}/tasks/{budget_task.task_id}/actions/", json={"action": "hold"}, headers=headers, timeout=10
    )
    assert response.status_code == 200, response.text
    wait_for(lambda: queue_depth(broker, hdts_queue) == 1, timeout=10, message="the status to HDTS")
    assert drain(broker, hdts_queue) == [("send_ticket_status", ["TX20261204334455", "On Hold"], {})]
    # ... and our own ticket_service still gets DESIGN §2's message on its queue, with the internal status.
    statuses = [args for name, args, _ in drain(broker, contracts.TICKET_STATUS.queue)]
    assert ["TX20261204334455", "on_hold"] in statuses


def test_a_status_message_in_neither_shape_is_dead_lettered_naming_what_is_wrong(workflows, broker, celery_worker):
    celery_worker(queues=(contracts.RECEIVE_TICKET.queue,), env={"HDTS_SIGNING_SECRET": ""})
    hdts = DeployedHdts()
    hdts.sync_status("TX1", "Reopened", csat_rating=9)
    hdts.app.send_task("tts.tasks.receive_hdts_ticket_status", args=["TX2"], queue="TICKET_TASKS_PRODUCTION")
    wait_for(lambda: queue_depth(broker, contracts.TICKET_DLQ) == 2, timeout=30, message="dead letters")
    reasons = sorted(message.payload["reason"] for message in _dlq_messages(broker))
    assert reasons == [
        "validation: status: must be one of: Closed, Withdrawn; csat_rating: must be an integer from 1 to 5, or null",
        "validation: the status message's payload (first positional argument) must be an object",
    ]
    assert not PendingHdtsStatus.objects.exists()


def test_with_signing_on_unsigned_deployed_messages_are_dead_lettered(workflows, broker, celery_worker):
    celery_worker(queues=(contracts.RECEIVE_TICKET.queue,), env={"HDTS_SIGNING_SECRET": "a-secret-for-this-test"})
    hdts = DeployedHdts()
    hdts.push_ticket(hdts_ticket("TX20261204999999"))
    hdts.sync_status("TX20261204999999", "Closed")
    wait_for(lambda: queue_depth(broker, contracts.TICKET_DLQ) == 2, timeout=30, message="dead letters")
    reasons = sorted(message.payload["reason"] for message in _dlq_messages(broker))
    assert len(reasons) == 2 and all(r.startswith("signature: ") and "signature missing" in r for r in reasons), reasons
    assert not Task.objects.exists() and not PendingHdtsStatus.objects.exists()


def _dlq_messages(conn: Connection) -> list[Any]:
    bound = contracts.declared_queue(contracts.TICKET_DLQ)(conn.default_channel)
    messages = []
    while (message := bound.get(no_ack=True)) is not None:
        messages.append(message)
    return messages


@pytest.mark.parametrize("queue", [contracts.TICKET_STATUS.queue, contracts.RECEIVE_TICKET.queue, contracts.TICKET_DLQ])
def test_a_status_queue_one_of_our_workers_reads_is_refused_at_startup(queue):
    env = {**_env(), "HDTS_STATUS_QUEUE": queue}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert f"HDTS_STATUS_QUEUE={queue!r} is a queue of ours" in result.stderr


def _env() -> dict[str, str]:
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "tts.settings", "CELERY_BROKER_URL": settings.CELERY_BROKER_URL}



def test_a_status_racing_its_ticket_is_never_lost(workflows):
    """The status and its ticket processed at the same moment by two workers: whichever commits first, the task
    ends cancelled and no status is left behind (the routing lock orders them)."""
    for round_ in range(15):
        number = f"TX2026120450{round_:04d}"
        turn, turn_lock = count(), Lock()

        def race(number: str = number, turn: Any = turn, turn_lock: Any = turn_lock) -> str:
            with turn_lock:
                mine = next(turn)
            if mine == 0:
                hdts_status.apply_statuses([hdts_status.parse_status({"ticket_number": number, "status": "Withdrawn"})])
            else:
                ingestion.ingest_tickets(
                    [ingestion.parse_ticket(hdts_ticket(number), received_at=timezone.now())], return_tasks=False
                )
            return number

        assert len(run_concurrently(race, 2)) == 2
        assert Task.objects.get(external_ticket_id=number).status == Task.Status.CANCELLED
        assert not PendingHdtsStatus.objects.exists()


def test_a_status_that_waited_for_an_approval_ends_the_task_at_the_step_the_approval_moved_it_to():
    """HDTS withdraws a ticket while a person's approval, moving its task to the next step, holds the task's lock:
    the withdrawal waits, then closes the step the task is at now and counts the task there. (A locking read
    joined to the steps saw no current step after such a wait, and left the new step open.)"""
    coordinators, _ = role_with_users(1, name="Ticket Coordinator")
    first, _ = role_with_users(1, name="Desk")
    second, (engineer,) = role_with_users(1, name="Engineers")
    deployed_workflow(step_roles=[first, second], coordinator_role=coordinators, category="IT Support", sub_category="Technical Assistance")
    number = "TX20261205000001"
    ingestion.ingest_tickets([ingestion.parse_ticket(hdts_ticket(number), received_at=timezone.now())], return_tasks=False)
    task = Task.objects.get(external_ticket_id=number)
    approved, release = threading.Event(), threading.Event()

    def approve() -> None:
        try:
            with transaction.atomic():
                actions.task_act(task_id=task.pk, actor=ADMIN, action="approve")
                approved.set()
                release.wait(30)
        finally:
            connection.close()

    def withdraw() -> None:
        try:
            hdts_status.apply_statuses([hdts_status.parse_status({"ticket_number": number, "status": "Withdrawn"})])
        finally:
            connection.close()

    approver = threading.Thread(target=approve)
    approver.start()
    assert approved.wait(30)
    withdrawer = threading.Thread(target=withdraw)
    withdrawer.start()
    wait_for(lambda: _backends_waiting_for_a_lock() == 1, timeout=30, message="the withdrawal waiting for the approval")
    release.set()
    approver.join()
    withdrawer.join()

    task.refresh_from_db()
    assert (task.status, task.current_step, task.assigned_user) == (Task.Status.CANCELLED, None, None)
    at_second = StepInstance.objects.get(task=task, step__role_id=second.pk)
    assert at_second.status == StepInstance.Status.CANCELLED
    assert not StepInstance.objects.filter(task=task, status=StepInstance.Status.ACTIVE).exists()
    cancelled = ReportDelta.objects.get(kind=ReportEvent.CANCELLED)
    assert (cancelled.step_id, cancelled.user_id) == (at_second.step_id, engineer.pk)
    assert rollup_differences() == {}


def _backends_waiting_for_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]
