"""The auth service's audit: every sensitive operation through the API is recorded with its actor, target, time and
client address, and listed at ``GET /api/v1/audit/`` for holders of users.manage, filtered and paginated."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from auth_service.models import AuditEvent, Role, User
from tests.auth_service.conftest import assert_error
from tests.auth_service.factories import PASSWORD, AssignmentFactory, RoleFactory
from tts_common.base import permissions

pytestmark = pytest.mark.django_db

AUDIT_URL = "/api/v1/audit/"


def trail() -> list[tuple[str, str, str, str]]:
    """(event type, actor, target user or role, source address) of every event, oldest first."""
    return [
        (e.event_type, e.actor_username, e.target_username or e.role_name, e.source_address)
        for e in AuditEvent.objects.order_by("occurred_at", "id")
    ]


def test_every_sensitive_operation_is_recorded_with_actor_target_and_address(admin_client, client_for, agent_role):
    address = {"REMOTE_ADDR": "192.0.2.7"}
    created = admin_client.post(
        "/api/v1/users/", {"username": "newbie", "password": "a-long-first-password"}, format="json", **address
    )
    assert created.status_code == 201, created.json()
    newbie = User.objects.get(username="newbie")
    user_url = f"/api/v1/users/{newbie.pk}/"
    assert admin_client.patch(user_url, {"first_name": "New"}, format="json", **address).status_code == 200
    assert admin_client.post(f"{user_url}roles/", {"role_id": agent_role.pk}, format="json", **address).status_code == 201
    own = {"password": "a-long-second-password", "current_password": "a-long-first-password"}
    assert client_for(newbie).patch("/api/v1/users/me/", own, format="json", **address).status_code == 200
    assert admin_client.delete(f"{user_url}roles/{agent_role.pk}/", **address).status_code == 204
    assert admin_client.delete(user_url, **address).status_code == 204
    assert admin_client.patch(user_url, {"is_active": True}, format="json", **address).status_code == 200
    role = admin_client.post(
        "/api/v1/roles/", {"system": "TTS", "name": "Auditors", "permissions": ["users.manage"]}, format="json", **address
    )
    assert role.status_code == 201, role.json()
    changed = admin_client.patch(
        f"/api/v1/roles/{role.json()['id']}/", {"permissions": ["users.manage", "reports.view"]}, format="json", **address
    )
    assert changed.status_code == 200

    role_name = "TTS:Auditors"
    assert trail() == [
        ("user.created", "boss", "newbie", "192.0.2.7"),
        ("user.changed", "boss", "newbie", "192.0.2.7"),
        ("role.granted", "boss", "newbie", "192.0.2.7"),
        ("password.changed", "newbie", "newbie", "192.0.2.7"),
        ("role.revoked", "boss", "newbie", "192.0.2.7"),
        ("user.deactivated", "boss", "newbie", "192.0.2.7"),
        ("user.reactivated", "boss", "newbie", "192.0.2.7"),
        ("role.created", "boss", role_name, "192.0.2.7"),
        ("role.changed", "boss", role_name, "192.0.2.7"),
    ]
    granted = AuditEvent.objects.get(event_type="role.granted")
    assert (granted.role_id, granted.role_name, granted.target_user_id) == (agent_role.pk, str(agent_role), newbie.pk)
    assert AuditEvent.objects.get(event_type="user.changed").details == {"fields": ["first_name"]}
    assert AuditEvent.objects.get(event_type="role.changed").details == {
        "permissions": {"from": ["users.manage"], "to": ["users.manage", "reports.view"]}
    }
    # Nothing about the password but the fact: no hash, no value.
    assert "a-long" not in str(AuditEvent.objects.values_list("details", flat=True))


def test_replacing_a_users_roles_records_each_grant_and_revocation(admin_client, agent, agent_role):
    other = RoleFactory(system=agent_role.system, name="Network Engineer")
    response = admin_client.put(f"/api/v1/users/{agent.pk}/roles/", {"role_ids": [other.pk]}, format="json")
    assert response.status_code == 200, response.json()
    assert sorted((e.event_type, e.role_id) for e in AuditEvent.objects.all()) == [
        ("role.granted", other.pk), ("role.revoked", agent_role.pk)
    ]  # fmt: skip


def test_a_refused_change_records_nothing(agent_client, admin_user):
    assert agent_client.patch(f"/api/v1/users/{admin_user.pk}/", {"first_name": "x"}, format="json").status_code == 404
    assert agent_client.post("/api/v1/roles/", {"system": "TTS", "name": "Mine"}, format="json").status_code == 403
    assert not AuditEvent.objects.exists()


# --- Who may grant what -------------------------------------------------------------------------------------------
@pytest.fixture
def user_manager(agent_role) -> User:
    """A holder of users.manage (and the agents' defaults), not an admin."""
    role = RoleFactory(
        system=agent_role.system, name="User managers", permissions=[permissions.USERS_MANAGE, *permissions.AGENT_DEFAULTS]
    )
    return AssignmentFactory(user__username="manager", role=role).user


def test_a_user_manager_cannot_hand_out_permissions_they_lack(client_for, user_manager, agent, tts_admin_role):
    manager = client_for(user_manager)

    to_admin = manager.post("/api/v1/roles/", {"system": "TTS", "name": "Sneaky", "permissions": ["admin"]}, format="json")
    assert_error(to_admin, 403)
    assert_error(manager.post(f"/api/v1/users/{agent.pk}/roles/", {"role_id": tts_admin_role.pk}, format="json"), 403)
    assert_error(manager.put(f"/api/v1/users/{agent.pk}/roles/", {"role_ids": [tts_admin_role.pk]}, format="json"), 403)
    assert not Role.objects.filter(name="Sneaky").exists() and not agent.system_roles.filter(role=tts_admin_role)

    # Nor take administration away: administrators' accounts and roles are the administrators' to change.
    boss = AssignmentFactory(user__username="other-boss", role=tts_admin_role).user
    assert_error(manager.patch(f"/api/v1/users/{boss.pk}/", {"is_active": False}, format="json"), 403)
    assert_error(manager.delete(f"/api/v1/users/{boss.pk}/roles/{tts_admin_role.pk}/"), 403)
    assert_error(manager.patch(f"/api/v1/roles/{tts_admin_role.pk}/", {"permissions": []}, format="json"), 403)
    assert_error(manager.delete(f"/api/v1/roles/{tts_admin_role.pk}/"), 403)
    boss.refresh_from_db()
    tts_admin_role.refresh_from_db()
    assert boss.is_active and tts_admin_role.permissions == ["admin"] and tts_admin_role.is_active

    # What they hold, they grant.
    ok = manager.post("/api/v1/roles/", {"system": "TTS", "name": "Helpers", "permissions": ["users.manage"]}, format="json")
    assert ok.status_code == 201, ok.json()


def test_an_unknown_permission_is_a_field_error_and_nothing_is_stored(admin_client, agent_role):
    body = {"system": "TTS", "name": "Typo", "permissions": ["task.act", "tasks.act"]}
    error = assert_error(admin_client.post("/api/v1/roles/", body, format="json"), 400, "permissions")
    assert "tasks.act" in str(error["errors"]["permissions"])
    assert_error(admin_client.patch(f"/api/v1/roles/{agent_role.pk}/", {"permissions": ["root"]}, format="json"), 400, "permissions")
    assert not Role.objects.filter(name="Typo").exists()
    agent_role.refresh_from_db()
    assert agent_role.permissions == []


def test_a_role_created_without_permissions_gets_the_agents_defaults(admin_client):
    response = admin_client.post("/api/v1/roles/", {"system": "TTS", "name": "Field agents"}, format="json")
    assert response.json()["permissions"] == list(permissions.AGENT_DEFAULTS)
    explicit = admin_client.post("/api/v1/roles/", {"system": "TTS", "name": "Observers", "permissions": []}, format="json")
    assert explicit.json()["permissions"] == []


# --- The list ------------------------------------------------------------------------------------------------------
def _events(count: int, **fields: Any) -> None:
    AuditEvent.objects.bulk_create([AuditEvent(**fields) for _ in range(count)])


def test_the_list_is_for_user_managers_newest_first_filtered_and_paginated(client_for, admin_client, agent, user_manager):
    _events(3, event_type="login.failed", target_username="agent", source_address="198.51.100.1")
    _events(2, event_type="role.granted", actor_username="boss", target_username="agent")
    _events(1, event_type="user.created", actor_username="manager", target_username="someone")
    old = AuditEvent.objects.create(event_type="user.changed", actor_username="boss", target_username="agent")
    AuditEvent.objects.filter(pk=old.pk).update(occurred_at=timezone.now() - timedelta(days=10))

    assert_error(client_for(agent).get(AUDIT_URL), 403)
    assert_error(client_for(None).get(AUDIT_URL), 401)

    manager = client_for(user_manager)
    everything = manager.get(AUDIT_URL).json()
    assert everything["count"] == 7 and everything["results"][-1]["id"] == old.pk  # newest first
    assert set(everything["results"][0]) == {
        "id", "occurred_at", "event_type", "actor_id", "actor_username", "target_user_id", "target_username",
        "role_id", "role_name", "source_address", "details",
    }  # fmt: skip

    def count(**query: Any) -> int:
        response = manager.get(AUDIT_URL, query)
        assert response.status_code == 200, response.json()
        return response.json()["count"]

    assert count(event_type="login.failed") == 3
    assert count(event_type=["login.failed", "user.created"]) == 4
    assert count(actor="BOSS") == 3 and count(target="agent") == 6
    assert count(occurred_before=(timezone.now() - timedelta(days=1)).isoformat()) == 1
    assert count(occurred_after=(timezone.now() - timedelta(days=1)).isoformat()) == 6
    page = manager.get(AUDIT_URL, {"page_size": 4, "page": 2}).json()
    assert len(page["results"]) == 3 and page["next"] is None and page["previous"]
    assert_error(manager.get(AUDIT_URL, {"event_type": "nonsense"}), 400, "event_type")
    assert_error(manager.get(AUDIT_URL, {"occurred_after": "yesterday"}), 400, "occurred_after")

    types = admin_client.get("/api/v1/audit/event-types/").json()["event_types"]
    assert set(types) == set(AuditEvent.EventType.values) and "login.locked_out" in types


def test_login_failures_are_audited_with_the_typed_username(client_for, agent):
    login = client_for(None)
    assert login.post("/token/", {"username": "nobody", "password": PASSWORD}, format="json").status_code == 401
    assert login.post("/token/", {"username": "agent", "password": "wrong"}, format="json").status_code == 401
    assert [(e.event_type, e.target_user_id, e.target_username, e.actor_id) for e in AuditEvent.objects.order_by("id")] == [
        ("login.failed", None, "nobody", None), ("login.failed", agent.pk, "agent", None)
    ]  # fmt: skip
