"""/api/v1/users/{id}/roles/ and /api/v1/users/{id}/roles/{role_id}/: assign, unassign, replace."""
from __future__ import annotations

import pytest
from django.urls import reverse

from auth_service.models import UserSystemRole
from tts_common import contracts

from .conftest import assert_error, row_counts
from .factories import AssignmentFactory, RoleFactory, UserFactory

pytestmark = pytest.mark.django_db


def roles_url(user_id: int) -> str:
    return reverse("auth-user-roles", args=[user_id])


def role_url(user_id: int, role_id: int) -> str:
    return reverse("auth-user-role-detail", args=[user_id, role_id])


def assignments(user) -> list[tuple[int, str]]:
    rows = UserSystemRole.objects.filter(user=user).order_by("role_id")
    return [(row.role_id, row.assigned_at.isoformat()) for row in rows]


@pytest.fixture
def supervisor_role(agent_role):
    return RoleFactory(system=agent_role.system, name="Supervisor")


def test_admin_and_the_user_read_the_assignments_others_get_404(admin_client, client_for, agent, admin_user):
    retired = RoleFactory(system=agent.system_roles.get().role.system, name="Retired", is_active=False)
    AssignmentFactory(user=agent, role=retired)

    body = admin_client.get(roles_url(agent.pk)).json()

    assert body["count"] == 2
    assert [(row["role_name"], row["role_is_active"]) for row in body["results"]] == [
        ("IT Support Agent", True),
        ("Retired", False),
    ]
    assert client_for(agent).get(roles_url(agent.pk)).json()["count"] == 2
    assert_error(client_for(agent).get(roles_url(admin_user.pk)), 404)
    assert_error(admin_client.get(roles_url(10**9)), 404)
    assert_error(client_for(None).get(roles_url(agent.pk)), 401)


def test_assigning_a_role_publishes_the_full_snapshot(admin_client, agent, agent_role, supervisor_role, published):
    with published() as sent:
        response = admin_client.post(roles_url(agent.pk), {"role_id": supervisor_role.pk}, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["role_name"] == "Supervisor"
    by_role = {a.role_id: a.assigned_at.isoformat() for a in agent.system_roles.all()}
    assert [(message.route, message.kwargs) for message in sent] == [
        (
            contracts.ROLE_SYNC,
            {
                "user_data": {
                    "user_id": agent.pk,
                    "username": agent.username,
                    "email": agent.email,
                    "is_active": True,
                    "version": 1,
                    "system_roles": [
                        {
                            "system": "TTS",
                            "role_id": agent_role.pk,
                            "role_name": "IT Support Agent",
                            "assigned_at": by_role[agent_role.pk],
                        },
                        {
                            "system": "TTS",
                            "role_id": supervisor_role.pk,
                            "role_name": "Supervisor",
                            "assigned_at": by_role[supervisor_role.pk],
                        },
                    ],
                }
            },
        )
    ]


def test_assigning_a_role_the_user_has_is_200_and_publishes_nothing(admin_client, agent, agent_role, published):
    with published() as sent:
        response = admin_client.post(roles_url(agent.pk), {"role_id": agent_role.pk}, format="json")

    assert response.status_code == 200 and sent == []


@pytest.mark.parametrize(
    ("body", "fields"),
    [({}, ("role_id",)), ({"role_id": "x"}, ("role_id",)), ({"role_id": 10**9}, ("role_id",)),
     ({"role_id": True}, ("role_id",)), ({"role_id": None}, ("role_id",)), ({"role_ids": []}, ("role_id",))],
)  # fmt: skip
def test_assign_with_bad_input_is_400_and_writes_nothing(admin_client, agent, published, body, fields):
    before = row_counts()

    with published() as sent:
        assert_error(admin_client.post(roles_url(agent.pk), body, format="json"), 400, *fields)

    assert row_counts() == before and sent == []


def test_inactive_roles_cannot_be_assigned(admin_client, agent, agent_role, published):
    retired = RoleFactory(system=agent_role.system, is_active=False)

    with published() as sent:
        assert_error(admin_client.post(roles_url(agent.pk), {"role_id": retired.pk}, format="json"), 400, "role_id")

    assert assignments(agent) == [(agent_role.pk, agent.system_roles.get().assigned_at.isoformat())] and sent == []


def test_assignment_writes_are_admin_only(client_for, agent, agent_role, supervisor_role):
    before = row_counts()
    client = client_for(agent)

    assert_error(client.post(roles_url(agent.pk), {"role_id": supervisor_role.pk}, format="json"), 403)
    assert_error(client.put(roles_url(agent.pk), {"role_ids": [supervisor_role.pk]}, format="json"), 403)
    assert_error(client.delete(role_url(agent.pk, agent_role.pk)), 403)
    assert_error(client_for(None).post(roles_url(agent.pk), {"role_id": supervisor_role.pk}, format="json"), 401)
    assert row_counts() == before


def test_assigning_to_an_unknown_user_is_404(admin_client, agent_role):
    assert_error(admin_client.post(roles_url(10**9), {"role_id": agent_role.pk}, format="json"), 404)


def test_unassigning_publishes_the_snapshot_without_the_role(admin_client, agent, agent_role, published):
    with published() as sent:
        response = admin_client.delete(role_url(agent.pk, agent_role.pk))

    assert response.status_code == 204
    assert assignments(agent) == []
    assert [(m.kwargs["user_data"]["version"], m.kwargs["user_data"]["system_roles"]) for m in sent] == [(1, [])]


def test_unassigning_what_is_not_there_is_404(admin_client, agent, agent_role, supervisor_role, published):
    with published() as sent:
        assert_error(admin_client.delete(role_url(agent.pk, supervisor_role.pk)), 404)
        assert_error(admin_client.delete(role_url(agent.pk, 10**9)), 404)
        assert_error(admin_client.delete(role_url(10**9, agent_role.pk)), 404)

    assert len(assignments(agent)) == 1 and sent == []


def test_put_replaces_the_role_set_keeping_retained_assignments(
    admin_client, agent, agent_role, supervisor_role, published
):
    network = RoleFactory(system=agent_role.system, name="Network Engineer")
    AssignmentFactory(user=agent, role=supervisor_role)
    kept = dict(assignments(agent))[supervisor_role.pk]

    with published() as sent:
        response = admin_client.put(
            roles_url(agent.pk), {"role_ids": [supervisor_role.pk, network.pk, network.pk]}, format="json"
        )

    assert response.status_code == 200, response.json()
    assert [row["role_name"] for row in response.json()["roles"]] == ["Supervisor", "Network Engineer"]
    assert dict(assignments(agent)).keys() == {supervisor_role.pk, network.pk}
    assert dict(assignments(agent))[supervisor_role.pk] == kept
    assert len(sent) == 1
    snapshot_roles = sent[0].kwargs["user_data"]["system_roles"]
    assert [role["role_name"] for role in snapshot_roles] == ["Supervisor", "Network Engineer"]

    with published() as sent:
        admin_client.put(roles_url(agent.pk), {"role_ids": [network.pk, supervisor_role.pk]}, format="json")
    assert sent == []  # same set: nothing changed

    with published() as sent:
        assert admin_client.put(roles_url(agent.pk), {"role_ids": []}, format="json").json()["roles"] == []
    assert sent[0].kwargs["user_data"]["system_roles"] == [] and sent[0].kwargs["user_data"]["version"] == 2


def test_put_may_keep_a_deactivated_role_but_not_add_one(admin_client, agent, agent_role, published):
    AssignmentFactory(user=agent, role=(kept := RoleFactory(system=agent_role.system, name="Kept", is_active=False)))
    new_inactive = RoleFactory(system=agent_role.system, name="Dormant", is_active=False)

    assert admin_client.put(roles_url(agent.pk), {"role_ids": [kept.pk]}, format="json").status_code == 200

    before = assignments(agent)
    with published() as sent:
        response = admin_client.put(roles_url(agent.pk), {"role_ids": [kept.pk, new_inactive.pk]}, format="json")
        assert_error(response, 400, "role_ids")
    assert assignments(agent) == before and sent == []


@pytest.mark.parametrize(
    "body", [{}, {"role_ids": None}, {"role_ids": 3}, {"role_ids": ["x"]}, {"role_ids": [10**9]}, {"role_id": 1}]
)
def test_put_with_bad_input_is_400_and_changes_nothing(admin_client, agent, agent_role, published, body):
    before = assignments(agent)

    with published() as sent:
        assert_error(admin_client.put(roles_url(agent.pk), body, format="json"), 400)

    assert assignments(agent) == before and sent == []


def test_put_for_an_unknown_user_is_404(admin_client, agent_role):
    assert_error(admin_client.put(roles_url(10**9), {"role_ids": [agent_role.pk]}, format="json"), 404)


def test_roles_of_inactive_users_can_be_managed(admin_client, agent_role):
    user = UserFactory(is_active=False)

    assert admin_client.post(roles_url(user.pk), {"role_id": agent_role.pk}, format="json").status_code == 201
