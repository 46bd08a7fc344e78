"""Role and user replicas: versions, pending work on joining, deactivation; and the two sync queues end to end."""
from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from django.utils import timezone

from tests.conftest import outside_celery_app, wait_for
from tests.workflow_api.factories import deployed_workflow, role_with_users
from tts_common import contracts
from tts_common.base.permissions import ADMIN as ADMIN_PERMISSION
from tts_common.contracts.messages import RoleData, UserData
from workflow_api.models import Assignment, RoleReplica, Task, UserReplica, UserRole
from workflow_api.services import notify
from workflow_api.services.ingestion import IncomingTicket, ingest_tickets
from workflow_api.services.replica import apply_role, apply_user_snapshots


def role(role_id: int, version: int, name: str = "Field Tech", is_active: bool = True) -> RoleData:
    return {"role_id": role_id, "system": "TTS", "name": name, "permissions": [], "is_active": is_active, "version": version}


def user(user_id: int, version: int, role_ids: list[int], is_active: bool = True) -> UserData:
    return {
        "user_id": user_id,
        "username": f"u{user_id}",
        "email": f"u{user_id}@example.com",
        "is_active": is_active,
        "version": version,
        "system_roles": [
            {"system": "TTS", "role_id": r, "role_name": f"Role {r}", "assigned_at": "2025-01-01T00:00:00Z"} for r in role_ids
        ],
    }


def pending_tickets(count: int, role_id: int) -> list[Task]:
    """``count`` tasks waiting on a role nobody holds yet."""
    apply_role(role(role_id, 1))
    coordinators, _ = role_with_users(1)
    deployed_workflow(
        step_roles=[RoleReplica.objects.get(pk=role_id)], coordinator_role=coordinators, category="C", sub_category="S"
    )
    tickets = [
        {"ticket_id": f"T-{i}", "title": "t", "category": "C", "sub_category": "S", "priority": "low"} for i in range(count)
    ]
    return ingest_tickets([IncomingTicket(t["ticket_id"], t, timezone.now()) for t in tickets])


@pytest.mark.django_db
def test_older_or_equal_role_version_is_ignored():
    assert apply_role(role(7, 2, name="New"))
    assert not apply_role(role(7, 1, name="Old"))
    assert not apply_role(role(7, 2, name="Same version"))
    assert RoleReplica.objects.get(pk=7).name == "New"
    assert apply_role(role(7, 3, name="Newer", is_active=False))
    assert RoleReplica.objects.values_list("name", "is_active", "version").get(pk=7) == ("Newer", False, 3)


@pytest.mark.django_db
def test_older_user_snapshot_is_ignored_and_roles_are_replaced():
    apply_user_snapshots([user(1, 3, [10, 11])])
    apply_user_snapshots([user(1, 2, [12])])  # older: ignored
    assert set(UserRole.objects.filter(user_id=1).values_list("role_id", flat=True)) == {10, 11}
    apply_user_snapshots([user(1, 5, [11, 12]), user(1, 4, [10])])  # in one batch the newest counts
    assert set(UserRole.objects.filter(user_id=1).values_list("role_id", flat=True)) == {11, 12}
    # A role first known from a snapshot loses to any real role message.
    assert RoleReplica.objects.get(pk=12).version == 0 and apply_role(role(12, 1))


@pytest.mark.django_db
def test_pending_tasks_are_assigned_round_robin_when_users_join_the_role():
    tasks = pending_tickets(5, role_id=20)
    assert {t.status for t in tasks} == {Task.Status.PENDING}
    apply_user_snapshots([user(1, 1, [20]), user(2, 1, [20])])
    assert Counter(Task.objects.values_list("assigned_user_id", flat=True)) == {1: 3, 2: 2}
    assert set(Task.objects.values_list("status", flat=True)) == {Task.Status.IN_PROGRESS}
    assert Assignment.objects.count() == 5


@pytest.mark.django_db
def test_deactivated_user_releases_open_tasks_and_gets_no_new_work():
    pending_tickets(4, role_id=30)
    apply_user_snapshots([user(1, 1, [30]), user(2, 1, [30])])
    apply_user_snapshots([user(1, 2, [30], is_active=False)])
    assert set(Task.objects.values_list("assigned_user_id", flat=True)) == {2}
    assert Assignment.objects.filter(user_id=1, ended_at__isnull=True).count() == 0
    assert Assignment.objects.filter(ended_at__isnull=True).count() == 4
    new = ingest_tickets([IncomingTicket("T-new", {"ticket_id": "T-new", "title": "t", "category": "C", "sub_category": "S", "priority": "low"}, timezone.now())])
    assert new[0].assigned_user_id == 2


@pytest.mark.django_db(transaction=True)
def test_role_and_user_sync_messages_through_the_queues(celery_worker):
    tasks = pending_tickets(3, role_id=40)
    assert all(t.assigned_user_id is None for t in tasks)
    auth = outside_celery_app("auth")

    def send(route: contracts.Route, **kwargs: Any) -> None:
        auth.send_task(route.task, kwargs=kwargs, queue=route.queue)

    celery_worker(queues=(contracts.ROLE_SEND.queue, contracts.ROLE_SYNC.queue), concurrency=1)
    send(contracts.ROLE_SEND, role_data=role(40, 3, name="Renamed"))
    send(contracts.ROLE_SEND, role_data=role(40, 2, name="Stale"))
    send(contracts.ROLE_SYNC, user_data=user(9, 2, [40]))
    send(contracts.ROLE_SYNC, user_data=user(9, 1, []))  # older snapshot: ignored
    send(contracts.ROLE_SEND, role_data={"role_id": "not an id"})  # undecodable: recorded, never retried
    wait_for(lambda: Task.objects.filter(assigned_user_id=9).count() == 3, timeout=30, message="tasks assigned to u9")
    wait_for(lambda: UserReplica.objects.filter(pk=9, version=2).exists() and RoleReplica.objects.filter(pk=40, version=3).exists(), timeout=10)
    assert RoleReplica.objects.get(pk=40).name == "Renamed"
    assert UserRole.objects.filter(user_id=9, role_id=40).exists()
    from workflow_api.models import IntegrationError

    wait_for(lambda: IntegrationError.objects.filter(source=contracts.ROLE_SEND.queue, category="validation").exists(), timeout=10)


@pytest.mark.django_db
def test_admins_hold_an_active_tts_role_with_the_admin_permission_whatever_its_name():
    _, [renamed_admin] = role_with_users(1, name="Operators", permissions=[ADMIN_PERMISSION])
    role_with_users(1, name="Admin")  # the old name, without the permission
    role_with_users(1, system="AMS", permissions=[ADMIN_PERMISSION])
    role_with_users(1, is_active=False, permissions=[ADMIN_PERMISSION])

    assert notify.admin_user_ids() == [renamed_admin.user_id]


def test_a_role_permission_change_reaches_the_replica_and_decides_admins(db):
    apply_role(role(900, 1, name="Admin"))
    apply_user_snapshots([user(901, 1, [900])])
    assert notify.admin_user_ids() == []

    apply_role({**role(900, 2, name="Admin"), "permissions": [ADMIN_PERMISSION]})

    assert notify.admin_user_ids() == [901]
