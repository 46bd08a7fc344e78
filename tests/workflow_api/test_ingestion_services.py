"""Ingestion services in-process: matching, SLA, idempotency, unrouted tickets and their routing on deploy."""
from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from tests.conftest import capture_outbox
from tests.workflow_api.factories import RoleFactory, UserRoleFactory, deployed_workflow, role_with_users
from tts_common import contracts
from tts_common.base import signing
from tts_common.base.permissions import ADMIN as ADMIN_PERMISSION
from workflow_api.models import Assignment, AuditEvent, StepInstance, Task, UnroutedTicket, Workflow
from workflow_api.services.ingestion import (
    IncomingTicket,
    InvalidTicket,
    ingest_tickets,
    parse_ticket,
    route_unrouted_tickets,
)

pytestmark = pytest.mark.django_db


def ticket(ticket_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
        "title": f"Ticket {ticket_id}",
        "category": "IT Support",
        "sub_category": "Network",
        "priority": "medium",
        **fields,
    }


def incoming(data: dict[str, Any]) -> IncomingTicket:
    return IncomingTicket(ticket_id=data["ticket_id"], data=data, received_at=timezone.now())


@pytest.fixture
def published(monkeypatch) -> list[tuple[str, dict[str, Any]]]:
    """Messages the services publish (after commit), captured instead of sent."""
    sent: list[tuple[str, dict[str, Any]]] = []
    capture_outbox(monkeypatch, lambda task, args, kwargs: sent.append((task, kwargs or {"args": list(args)})))
    return sent


@pytest.fixture
def admin() -> int:
    role = RoleFactory(system="TTS", name="Admin", permissions=[ADMIN_PERMISSION])
    return UserRoleFactory(role=role).user_id


@pytest.fixture
def network() -> Workflow:
    coordinators, _ = role_with_users(2)
    agents, _ = role_with_users(3)
    engineers, _ = role_with_users(2)
    return deployed_workflow(
        step_roles=[agents, engineers], coordinator_role=coordinators, category="IT Support", sub_category="Network"
    )


def test_ticket_becomes_an_assigned_task_with_sla_owner_and_audit(network, published, django_capture_on_commit_callbacks):
    created_at = datetime(2025, 1, 31, 9, 30, tzinfo=UTC)
    with django_capture_on_commit_callbacks(execute=True):
        [task] = ingest_tickets([incoming(ticket("T-1", priority="medium", created_at="2025-01-31T09:30:00Z"))])
    task.refresh_from_db()
    first = network.steps.get(order=1)
    assert task.priority == "high"  # DESIGN §3 default map: medium -> high
    assert task.ticket_created_at == created_at
    assert task.sla_deadline == created_at + network.sla_high
    assert task.status == Task.Status.IN_PROGRESS and task.current_step == first
    assert task.assigned_user.roles.filter(role=first.role).exists()
    assert task.owner.roles.filter(role=network.coordinator_role).exists()
    instance = StepInstance.objects.get(task=task)
    assert instance.status == StepInstance.Status.ACTIVE
    assert instance.due_at == instance.started_at + network.sla_high * 0.5  # two steps, 50 % each
    assert Assignment.objects.get(task=task).user_id == task.assigned_user_id
    [created] = AuditEvent.objects.filter(ticket_id="T-1", action="task.created")
    assert created.data["assigned_user_id"] == task.assigned_user_id and created.data["owner_id"] == task.owner_id
    assert uuid.UUID(published[0][1].pop("dedup_key"))  # its message id: notification_service stores it once
    assert published == [
        (
            contracts.ASSIGNMENT_NOTIFICATION.task,
            {
                "user_id": task.assigned_user_id,
                "task_id": str(task.task_id),
                "task_title": "Ticket T-1",
                "role_name": first.role.name,
                "ticket_id": "T-1",
            },
        ),
        (
            contracts.TICKET_PARTICIPANTS.task,
            {
                "tasks": [
                    {
                        "ticket_id": "T-1",
                        "task_id": str(task.task_id),
                        "participants": sorted(
                            ({"user_id": user.user_id, "username": user.username} for user in (task.owner, task.assigned_user)),
                            key=lambda participant: participant["user_id"],
                        ),
                    }
                ]
            },
        ),
    ]


@pytest.mark.parametrize(
    ("created_at", "utc"),
    [
        ("2025-01-31T09:30:00+19:14", datetime(2025, 1, 30, 14, 16, tzinfo=UTC)),  # PostgreSQL refuses +19:14 itself
        ("2025-01-31t09:30:00z", datetime(2025, 1, 31, 9, 30, tzinfo=UTC)),  # RFC 3339 allows lower case
    ],
)
def test_the_sla_clock_starts_at_the_tickets_time_whatever_its_offset(network, created_at, utc):
    [task] = ingest_tickets([incoming(ticket("T-1", created_at=created_at))])
    task.refresh_from_db()
    assert task.ticket_created_at == utc and task.sla_deadline == utc + network.sla_high


@override_settings(HDTS_PRIORITY_MAP={"medium": "low"})
def test_priority_map_is_configurable(network):
    [task] = ingest_tickets([incoming(ticket("T-1"))])
    assert task.priority == "low"


def test_same_ticket_again_is_a_no_op(network, published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert len(ingest_tickets([incoming(ticket("T-1")), incoming(ticket("T-1"))])) == 1
        assert ingest_tickets([incoming(ticket("T-1"))]) == []
    assert Task.objects.count() == 1 and Assignment.objects.count() == 1
    assert [name for name, _ in published] == [contracts.ASSIGNMENT_NOTIFICATION.task, contracts.TICKET_PARTICIPANTS.task]


def test_department_workflow_is_preferred_over_the_any_department_one(network):
    hr = deployed_workflow(
        step_roles=[role_with_users(1)[0]],
        coordinator_role=network.coordinator_role,
        category="IT Support",
        sub_category="Network",
        department="HR",
    )
    tasks = ingest_tickets(
        [incoming(ticket("T-HR", department="HR")), incoming(ticket("T-IT", department="IT")), incoming(ticket("T-0"))]
    )
    assert {task.external_ticket_id: task.workflow_id for task in tasks} == {
        "T-HR": hr.pk,
        "T-IT": network.pk,
        "T-0": network.pk,
    }


def test_round_robin_across_batches(network):
    for batch in range(4):
        ingest_tickets([incoming(ticket(f"T-{batch}-{i}")) for i in range(5)])
    per_user = Counter(Assignment.objects.values_list("user_id", flat=True))
    assert sorted(per_user.values()) == [6, 7, 7]
    assert sorted(Counter(Task.objects.values_list("owner_id", flat=True)).values()) == [10, 10]


def test_role_without_users_leaves_tasks_pending_and_tells_admins_once(admin, published, django_capture_on_commit_callbacks):
    empty = RoleFactory()
    deployed_workflow(step_roles=[empty], coordinator_role=empty, category="IT Support", sub_category="Network")
    with django_capture_on_commit_callbacks(execute=True):
        tasks = ingest_tickets([incoming(ticket(f"T-{i}")) for i in range(3)])
    assert {(t.status, t.assigned_user_id, t.owner_id) for t in Task.objects.all()} == {(Task.Status.PENDING, None, None)}
    assert len(tasks) == 3 and not Assignment.objects.exists()
    [(name, participants)] = [(name, kw) for name, kw in published if name == contracts.TICKET_PARTICIPANTS.task]
    # Sent all the same: the tickets exist (for admins) though nobody takes part in them yet.
    assert sorted((t["ticket_id"], t["participants"]) for t in participants["tasks"]) == [(f"T-{i}", []) for i in range(3)]
    assert [(name, kw["user_id"], kw["notification_type"]) for name, kw in published if "user_id" in kw] == [
        (contracts.INAPP_NOTIFICATION.task, admin, "task_escalation")
    ]


def test_unrouted_ticket_is_kept_admins_told_and_routed_on_deploy(admin, network, published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert ingest_tickets([incoming(ticket("T-1", sub_category="Printers"))]) == []
        ingest_tickets([incoming(ticket("T-1", sub_category="Printers"))])  # redelivered: told once
    unrouted = UnroutedTicket.objects.get()
    assert (unrouted.ticket_id, unrouted.routed_at) == ("T-1", None)
    assert [(kw["user_id"], kw["notification_type"], kw["related_ticket_id"]) for _, kw in published] == [
        (admin, "unrouted_ticket", "T-1")
    ]
    printers = deployed_workflow(
        step_roles=[role_with_users(1)[0]],
        coordinator_role=network.coordinator_role,
        category="IT Support",
        sub_category="Printers",
    )
    assert route_unrouted_tickets(printers) == 1
    unrouted.refresh_from_db()
    task = Task.objects.get(external_ticket_id="T-1")
    assert unrouted.task_id == task.task_id and unrouted.routed_at is not None
    assert task.workflow == printers and task.assigned_user_id is not None
    assert route_unrouted_tickets(printers) == 0


def test_parse_rejects_invalid_and_badly_signed_tickets():
    now = timezone.now()
    with pytest.raises(InvalidTicket, match="^validation: title: This field is required"):
        parse_ticket({k: v for k, v in ticket("T-1").items() if k != "title"}, received_at=now)
    with pytest.raises(InvalidTicket, match="^validation: ticket_id"):
        parse_ticket(ticket("T" * 101), received_at=now)
    with override_settings(HDTS_SIGNING_SECRET="s3cret"):
        data = ticket("T-1")
        with pytest.raises(InvalidTicket, match="^signature: .*missing"):
            parse_ticket(data, received_at=now)
        with pytest.raises(InvalidTicket, match="^signature: .*does not match"):
            parse_ticket(data, signing.sign("other", 1, data), 1, received_at=now)
        # An old signature is fine on the queue: replays are neutralised by idempotency.
        assert parse_ticket(data, signing.sign("s3cret", 1, data), 1, received_at=now).ticket_id == "T-1"
