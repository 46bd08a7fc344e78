"""Services: sync versions (sequential and concurrent), snapshots, the demo seed."""
from __future__ import annotations

import importlib
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from auth_service import selectors, services, tokens
from auth_service.models import Role, System, User
from tests.conftest import capture_outbox
from tts_common.base import permissions
from tts_common.base.permissions import ADMIN as ADMIN_PERMISSION

from .conftest import row_counts
from .factories import RoleFactory, SystemFactory, UserFactory


@pytest.mark.django_db
def test_every_user_change_publishes_a_strictly_higher_version(agent_role, published):
    other = RoleFactory(system=agent_role.system, name="Supervisor")
    with published() as sent:
        user = services.user_create(username="v", password="a-long-passphrase", email="v@example.com")
        services.user_role_assign(user=user, role=agent_role)
        services.user_roles_replace(user=user, roles=[agent_role, other])
        services.user_role_unassign(user=user, role=agent_role)
        services.user_deactivate(user=user)
        services.user_update(user=user, data={"is_active": True})
        services.role_update(role=other, data={"name": "Lead"})
        services.role_deactivate(role=other)

    snapshots = [message.kwargs["user_data"] for message in sent if "user_data" in message.kwargs]
    assert [snapshot["version"] for snapshot in snapshots] == list(range(1, 9))
    assert [[role["role_name"] for role in snapshot["system_roles"]] for snapshot in snapshots] == [
        [], ["IT Support Agent"], ["IT Support Agent", "Supervisor"], ["Supervisor"], ["Supervisor"], ["Supervisor"],
        ["Lead"], [],
    ]  # fmt: skip
    assert [snapshot["is_active"] for snapshot in snapshots] == [True, True, True, True, False, True, True, True]
    user.refresh_from_db()
    assert user.sync_version == 8
    assert snapshots[-1] == selectors.user_sync_snapshot(user=user)


@pytest.mark.django_db
def test_role_versions_increase_with_every_change(agent_role, published):
    with published() as sent:
        services.role_update(role=agent_role, data={"permissions": ["task.bulk"]})
        services.role_update(role=agent_role, data={"permissions": ["task.bulk"]})  # no change
        services.role_deactivate(role=agent_role)
        services.role_update(role=agent_role, data={"is_active": True, "name": "Agent"})

    assert [message.kwargs["role_data"]["version"] for message in sent if "role_data" in message.kwargs] == [2, 3, 4]
    assert Role.objects.get(pk=agent_role.pk).version == 4


@pytest.mark.django_db
def test_failed_validation_rolls_back_and_publishes_nothing(agent_role, published):
    user = UserFactory()
    with published() as sent, pytest.raises(ValidationError):
        services.user_update(user=user, data={"is_active": False, "email": "not an email"})

    user.refresh_from_db()
    assert user.is_active and user.sync_version == 0 and sent == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_changes_to_one_user_get_distinct_increasing_versions(monkeypatch):
    """Eight threads (eight DB connections) each assign a role at once: the user row lock serialises them."""
    published: list[dict] = []
    lock = threading.Lock()

    def record(task, args, kwargs):
        with lock:
            published.append(kwargs["user_data"])

    capture_outbox(monkeypatch, record)
    user = UserFactory()
    system = SystemFactory(code="TTS")
    roles = [RoleFactory(system=system) for _ in range(8)]
    barrier = threading.Barrier(len(roles))
    errors: list[BaseException] = []

    def assign(role: Role) -> None:
        try:
            barrier.wait()
            services.user_role_assign(user=user, role=role)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=assign, args=(role,)) for role in roles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert sorted(snapshot["version"] for snapshot in published) == list(range(1, 9))
    # Each snapshot was built under the lock right after its change: version n holds exactly n roles.
    assert all(len(snapshot["system_roles"]) == snapshot["version"] for snapshot in published)
    newest = max(published, key=lambda snapshot: snapshot["version"])
    assert {role["role_id"] for role in newest["system_roles"]} == {role.pk for role in roles}


# --- Demo seed ----------------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_seed_demo_accounts_is_idempotent_and_returns_the_synced_state(published):
    with published() as first_sent:
        seeded = services.seed_demo_accounts()
    counts = row_counts()

    with published() as again_sent:
        again = services.seed_demo_accounts()

    assert row_counts() == counts and again_sent == [] and again == seeded
    assert set(System.objects.values_list("code", flat=True)) == {"TTS", "HDTS", "AMS", "BMS"}
    assert sorted(role["name"] for role in seeded.roles) == sorted(services.DEMO_TTS_ROLES)
    assert [user["username"] for user in seeded.users] == [login.username for login in services.DEMO_LOGINS]
    # What was published is what the seed returns: workflow_api may take either.
    newest = {m.kwargs["user_data"]["user_id"]: m.kwargs["user_data"] for m in first_sent if "user_data" in m.kwargs}
    assert sorted(newest.values(), key=lambda user: user["user_id"]) == seeded.users


@pytest.mark.django_db
def test_every_demo_login_works_with_its_role():
    services.seed_demo_accounts()

    for login in services.DEMO_LOGINS:
        pair = tokens.obtain_token_pair(username=login.username, password=login.password, client_ip="127.0.0.1")
        claims = AccessToken(pair.access_token)
        assert claims["roles"] == {"TTS": [login.role]}
        assert claims["is_admin"] is (login.username == "admin")
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.email == "admin@example.com"
    assert User.objects.get(username="coord2").email == "coord2@example.com"
    assert services.DEMO_LOGINS[0].role == services.DEMO_ADMIN_ROLE
    assert Role.objects.get(name=services.DEMO_ADMIN_ROLE).permissions == [ADMIN_PERMISSION]


@pytest.mark.django_db
def test_seed_leaves_changed_passwords_alone():
    services.seed_demo_accounts()
    admin = User.objects.get(username="admin")
    services.user_update(user=admin, data={"password": "changed-after-seeding"})

    services.seed_demo_accounts()

    admin.refresh_from_db()
    assert admin.check_password("changed-after-seeding")


def test_the_upgrade_gives_every_tts_role_what_agents_could_do_before_permissions_were_enforced(db):
    from django.apps import apps

    migration = importlib.import_module("auth_service.migrations.0005_agent_permissions")
    tts, hdts = SystemFactory(code="TTS"), SystemFactory(code="HDTS")
    agents = RoleFactory(system=tts, name="Agents", permissions=[])
    admins = RoleFactory(system=tts, name="Admins", permissions=[ADMIN_PERMISSION, "task.act"])
    outside = RoleFactory(system=hdts, name="Requesters", permissions=[])

    migration.grant_agent_defaults(apps, None)

    for role in (agents, admins, outside):
        role.refresh_from_db()
    assert agents.permissions == ["task.act", "task.transfer", "task.escalate"] and agents.version == 2
    assert admins.permissions == [ADMIN_PERMISSION, "task.act", "task.transfer", "task.escalate"]
    assert outside.permissions == [] and outside.version == 1
    assert tuple(migration.AGENT_DEFAULTS) == permissions.AGENT_DEFAULTS  # the frozen copy is today's list
