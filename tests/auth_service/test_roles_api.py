"""/api/v1/roles/ and /api/v1/systems/: permissions, filters, validation, versions and sync messages."""
from __future__ import annotations

import pytest
from django.urls import reverse

from auth_service.models import Role
from tts_common import contracts

from .conftest import assert_error, row_counts
from .factories import AssignmentFactory, RoleFactory, SystemFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("auth-roles")


def detail_url(role_id: int) -> str:
    return reverse("auth-role-detail", args=[role_id])


def test_any_authenticated_user_lists_roles(agent_client, agent_role, tts_admin_role, client_for):
    RoleFactory(system=SystemFactory(code="BMS"), name="Approver", is_active=False)

    body = agent_client.get(LIST_URL).json()

    assert [(role["system"], role["name"]) for role in body["results"]] == [
        ("BMS", "Approver"),
        ("TTS", "Admin"),
        ("TTS", "IT Support Agent"),
    ]
    assert set(body["results"][0]) == {
        "id", "system", "name", "permissions", "is_active", "version", "created_at", "updated_at",
    }  # fmt: skip
    assert_error(client_for(None).get(LIST_URL), 401)


def test_role_filters(agent_client, agent_role, tts_admin_role):
    retired = RoleFactory(system=agent_role.system, name="Retired", is_active=False)

    def names(**params) -> list[str]:
        response = agent_client.get(LIST_URL, params)
        assert response.status_code == 200, response.json()
        return [role["name"] for role in response.json()["results"]]

    assert names(is_active="false") == [retired.name]
    assert names(system="tts", is_active="true") == ["Admin", "IT Support Agent"]
    assert names(system="HDTS") == []
    assert names(search="support") == ["IT Support Agent"]
    assert_error(agent_client.get(LIST_URL, {"is_active": "nah"}), 400, "is_active")


def test_admin_creates_a_role_and_it_is_published(admin_client, published):
    SystemFactory(code="BMS")

    with published() as sent:
        response = admin_client.post(
            LIST_URL, {"system": "BMS", "name": "Budget Viewer", "permissions": ["reports.view"]}, format="json"
        )

    assert response.status_code == 201, response.json()
    role = Role.objects.get(name="Budget Viewer")
    assert response.json() | {"created_at": None, "updated_at": None} == {
        "id": role.pk,
        "system": "BMS",
        "name": "Budget Viewer",
        "permissions": ["reports.view"],
        "is_active": True,
        "version": 1,
        "created_at": None,
        "updated_at": None,
    }
    assert [(message.route, message.kwargs) for message in sent] == [
        (
            contracts.ROLE_SEND,
            {
                "role_data": {
                    "role_id": role.pk,
                    "system": "BMS",
                    "name": "Budget Viewer",
                    "permissions": ["reports.view"],
                    "is_active": True,
                    "version": 1,
                }
            },
        )
    ]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": "X"}, ("system",)),
        ({"system": "TTS"}, ("name",)),
        ({"system": "NOPE", "name": "X"}, ("system",)),
        ({"system": 1, "name": "X"}, ("system",)),
        ({"system": "TTS", "name": "IT Support Agent"}, ("non_field_errors",)),  # taken in that system
        ({"system": "TTS", "name": ""}, ("name",)),
        ({"system": "TTS", "name": 5}, ("name",)),
        ({"system": "TTS", "name": "X", "permissions": "all"}, ("permissions",)),
        ({"system": "TTS", "name": "X", "permissions": [1, 2]}, ("permissions",)),
        ({"system": "TTS", "name": "X", "is_active": "perhaps"}, ("is_active",)),
        ({"system": "TTS", "name": "X", "version": 9}, ("version",)),
    ],
)
def test_create_with_bad_input_is_400_and_writes_nothing(admin_client, agent_role, published, body, fields):
    before = row_counts()

    with published() as sent:
        assert_error(admin_client.post(LIST_URL, body, format="json"), 400, *fields)

    assert row_counts() == before and sent == []


def test_only_admins_write_roles(client_for, agent, agent_role):
    agent_client = client_for(agent)
    before = list(Role.objects.values())

    assert_error(agent_client.post(LIST_URL, {"system": "TTS", "name": "Mine"}, format="json"), 403)
    assert_error(agent_client.patch(detail_url(agent_role.pk), {"name": "Mine"}, format="json"), 403)
    assert_error(agent_client.delete(detail_url(agent_role.pk)), 403)
    assert_error(client_for(None).post(LIST_URL, {"system": "TTS", "name": "Mine"}, format="json"), 401)
    assert_error(client_for(None).delete(detail_url(agent_role.pk)), 401)
    assert list(Role.objects.values()) == before


def test_role_detail(agent_client, agent_role):
    assert agent_client.get(detail_url(agent_role.pk)).json()["name"] == agent_role.name
    assert_error(agent_client.get(detail_url(10**9)), 404)


def test_renaming_a_role_bumps_its_version_and_republishes_its_users(admin_client, agent, agent_role, published):
    with published() as sent:
        response = admin_client.patch(detail_url(agent_role.pk), {"name": "Service Desk Agent"}, format="json")

    assert response.status_code == 200 and response.json()["version"] == 2
    assert [message.route for message in sent] == [contracts.ROLE_SEND, contracts.ROLE_SYNC]
    assert sent[0].kwargs["role_data"]["name"] == "Service Desk Agent"
    assert sent[0].kwargs["role_data"]["version"] == 2
    user_data = sent[1].kwargs["user_data"]
    assert user_data["user_id"] == agent.pk
    assert [role["role_name"] for role in user_data["system_roles"]] == ["Service Desk Agent"]


def test_a_permissions_change_publishes_the_role_only(admin_client, agent, agent_role, published):
    with published() as sent:
        response = admin_client.patch(detail_url(agent_role.pk), {"permissions": ["task.act"]}, format="json")

    assert response.json()["permissions"] == ["task.act"]
    assert [message.route for message in sent] == [contracts.ROLE_SEND]


def test_a_no_op_update_changes_and_publishes_nothing(admin_client, agent_role, published):
    with published() as sent:
        response = admin_client.patch(detail_url(agent_role.pk), {"name": agent_role.name}, format="json")

    assert response.json()["version"] == 1 and sent == []


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": "Admin"}, ("non_field_errors",)),
        ({"name": None}, ("name",)),
        ({"permissions": {"a": 1}}, ("permissions",)),
        ({"is_active": []}, ("is_active",)),
        ({"system": "BMS"}, ("system",)),  # a role stays in its system
    ],
)
def test_update_with_bad_input_is_400_and_changes_nothing(
    admin_client, agent_role, tts_admin_role, published, body, fields
):
    SystemFactory(code="BMS")
    before = list(Role.objects.order_by("pk").values())

    with published() as sent:
        assert_error(admin_client.patch(detail_url(agent_role.pk), body, format="json"), 400, *fields)

    assert list(Role.objects.order_by("pk").values()) == before and sent == []


def test_unknown_role_is_404_for_writes(admin_client):
    assert_error(admin_client.patch(detail_url(10**9), {"name": "X"}, format="json"), 404)
    assert_error(admin_client.delete(detail_url(10**9)), 404)


def test_delete_deactivates_the_role_and_drops_it_from_its_users_snapshots(admin_client, agent, agent_role, published):
    second = AssignmentFactory(role=agent_role).user

    with published() as sent:
        response = admin_client.delete(detail_url(agent_role.pk))

    assert response.status_code == 204
    agent_role.refresh_from_db()
    assert (agent_role.is_active, agent_role.version) == (False, 2)
    assert sent[0].kwargs == {
        "role_data": {
            "role_id": agent_role.pk,
            "system": "TTS",
            "name": "IT Support Agent",
            "permissions": [],
            "is_active": False,
            "version": 2,
        }
    }
    assert [(m.kwargs["user_data"]["user_id"], m.kwargs["user_data"]["system_roles"]) for m in sent[1:]] == [
        (agent.pk, []),
        (second.pk, []),
    ]


def test_reactivating_a_role_gives_it_back_to_its_users(admin_client, agent, agent_role, published):
    admin_client.delete(detail_url(agent_role.pk))

    with published() as sent:
        admin_client.patch(detail_url(agent_role.pk), {"is_active": True}, format="json")

    assert sent[0].kwargs["role_data"]["version"] == 3
    assert [role["role_id"] for role in sent[1].kwargs["user_data"]["system_roles"]] == [agent_role.pk]


def test_systems_are_listed_for_any_authenticated_user(agent_client, client_for):
    SystemFactory(code="AMS", name="Asset Management System")

    body = agent_client.get(reverse("auth-systems")).json()

    assert [system["code"] for system in body["results"]] == ["AMS", "TTS"]
    assert_error(client_for(None).get(reverse("auth-systems")), 401)
