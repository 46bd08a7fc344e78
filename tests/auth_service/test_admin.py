"""The Django admin writes through the services, so its changes are published like the API's."""
from __future__ import annotations

import pytest
from django.urls import reverse

from auth_service.models import Role, User
from tts_common import contracts

from .factories import AssignmentFactory, RoleFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_site(client, settings):
    # Admin pages link static files; the manifest of a collectstatic run is not needed to test the forms.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def inline(prefix: str, rows: list[dict], initial: int = 0) -> dict:
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        data.update({f"{prefix}-{index}-{key}": value for key, value in row.items()})
    return data


def test_adding_a_user_with_roles_publishes_its_snapshot(admin_site, agent_role, published):
    with published() as sent:
        response = admin_site.post(
            reverse("admin:auth_service_user_add"),
            {
                "username": "fromadmin",
                "usable_password": "true",
                "password1": "a-long-passphrase",
                "password2": "a-long-passphrase",
                **inline("system_roles", [{"role": agent_role.pk}]),
            },
        )

    assert response.status_code == 302, response.content.decode()[:3000]
    user = User.objects.get(username="fromadmin")
    assert user.check_password("a-long-passphrase")
    assert list(user.system_roles.values_list("role_id", flat=True)) == [agent_role.pk]
    snapshots = [message.kwargs["user_data"] for message in sent]
    assert snapshots[-1]["version"] == user.sync_version == 2
    assert [role["role_id"] for role in snapshots[-1]["system_roles"]] == [agent_role.pk]


def test_changing_a_user_in_the_admin_publishes_through_the_services(admin_site, agent, agent_role, published):
    assignment = agent.system_roles.get()
    supervisor = RoleFactory(system=agent_role.system, name="Supervisor")

    with published() as sent:
        response = admin_site.post(
            reverse("admin:auth_service_user_change", args=[agent.pk]),
            {
                "username": agent.username,
                "email": "NEW@Example.com",
                "first_name": agent.first_name,
                "last_name": agent.last_name,
                # is_active omitted: an unticked checkbox, so the user is deactivated
                **inline(
                    "system_roles",
                    [
                        {"id": assignment.pk, "user": agent.pk, "role": agent_role.pk, "DELETE": "on"},
                        {"user": agent.pk, "role": supervisor.pk},
                    ],
                    initial=1,
                ),
            },
        )

    assert response.status_code == 302, response.content.decode()[:3000]
    agent.refresh_from_db()
    assert (agent.email, agent.is_active) == ("new@example.com", False)
    assert list(agent.system_roles.values_list("role_id", flat=True)) == [supervisor.pk]
    assert [m.kwargs["user_data"]["version"] for m in sent] == [1, 2]
    assert sent[-1].kwargs["user_data"] | {"system_roles": None} == {
        "user_id": agent.pk,
        "username": agent.username,
        "email": "new@example.com",
        "is_active": False,
        "version": 2,
        "system_roles": None,
    }
    assert [role["role_name"] for role in sent[-1].kwargs["user_data"]["system_roles"]] == ["Supervisor"]


def test_the_admin_refuses_to_add_an_inactive_role(admin_site, agent, published):
    retired = RoleFactory(system=agent.system_roles.get().role.system, is_active=False)

    with published() as sent:
        response = admin_site.post(
            reverse("admin:auth_service_user_change", args=[agent.pk]),
            {
                "username": agent.username,
                "is_active": "on",
                **inline(
                    "system_roles",
                    [{"id": agent.system_roles.get().pk, "user": agent.pk, "role": agent.system_roles.get().role_id},
                     {"user": agent.pk, "role": retired.pk}],
                    initial=1,
                ),
            },
        )  # fmt: skip

    assert response.status_code == 200 and b"Inactive roles cannot be assigned" in response.content
    assert agent.system_roles.count() == 1 and sent == []


def test_roles_added_and_changed_in_the_admin_are_published(admin_site, agent_role, published):
    with published() as sent:
        admin_site.post(
            reverse("admin:auth_service_role_add"),
            {"system": agent_role.system.pk, "name": "Auditor", "permissions": '["reports.view"]', "is_active": "on"},
        )
        role = Role.objects.get(name="Auditor")
        admin_site.post(
            reverse("admin:auth_service_role_change", args=[role.pk]),
            {"name": "Senior Auditor", "permissions": '["reports.view"]', "is_active": "on"},
        )

    assert [(m.route, m.kwargs["role_data"]["name"], m.kwargs["role_data"]["version"]) for m in sent] == [
        (contracts.ROLE_SEND, "Auditor", 1),
        (contracts.ROLE_SEND, "Senior Auditor", 2),
    ]


def test_the_admin_deactivates_instead_of_deleting(admin_site, agent, agent_role, published):
    other = AssignmentFactory(role=agent_role).user

    with published() as sent:
        admin_site.post(
            reverse("admin:auth_service_user_changelist"),
            {"action": "deactivate", "_selected_action": [agent.pk, other.pk]},
        )
        admin_site.post(
            reverse("admin:auth_service_role_changelist"), {"action": "deactivate", "_selected_action": [agent_role.pk]}
        )

    assert not User.objects.filter(pk__in=[agent.pk, other.pk], is_active=True).exists()
    assert Role.objects.get(pk=agent_role.pk).is_active is False
    assert [m.route for m in sent] == [contracts.ROLE_SYNC] * 2 + [contracts.ROLE_SEND] + [contracts.ROLE_SYNC] * 2
    assert admin_site.get(reverse("admin:auth_service_user_delete", args=[agent.pk])).status_code == 403


@pytest.fixture
def staff_site(client, settings):
    """Django admin as a staff user (not superuser) allowed to view and change users: Django's own UserAdmin would
    let it change the superuser's password or make itself superuser."""
    from django.contrib.auth.models import Permission

    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    staff = UserFactory(username="helpdesk-lead", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename__in=["view_user", "change_user"]))
    client.force_login(staff)
    return client, staff


def test_only_a_superuser_changes_a_superuser_in_the_admin(staff_site):
    client, _ = staff_site
    root = UserFactory(username="root", is_staff=True, is_superuser=True)

    password_form = client.post(
        reverse("admin:auth_user_password_change", args=[root.pk]),
        {"password1": "taken-over-123", "password2": "taken-over-123"},
    )
    change = client.post(reverse("admin:auth_service_user_change", args=[root.pk]), {"username": "root", "email": "x@y.z"})

    assert password_form.status_code == 403
    assert change.status_code == 403
    root.refresh_from_db()
    assert root.check_password("correct-horse-battery") and root.email == "root@example.com"


def test_staff_cannot_make_anyone_superuser_in_the_admin(staff_site, agent):
    client, staff = staff_site

    page = client.get(reverse("admin:auth_service_user_change", args=[agent.pk]))
    assert page.status_code == 200
    assert 'name="is_superuser"' not in page.content.decode() and 'name="is_staff"' not in page.content.decode()


def test_a_password_set_in_the_admin_ends_the_users_sessions(admin_site, agent):
    from rest_framework.test import APIClient

    from auth_service import tokens
    from tts_common.models import AccountState

    refresh = tokens.token_pair_for_user(user=agent).refresh_token

    response = admin_site.post(
        reverse("admin:auth_user_password_change", args=[agent.pk]),
        {"usable_password": "true", "password1": "another-long-pass", "password2": "another-long-pass"},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert AccountState.objects.get(user_id=agent.pk).tokens_not_before > 0
    answer = APIClient().post(reverse("auth-token-refresh"), {"refresh_token": refresh}, format="json")
    assert answer.status_code == 401
