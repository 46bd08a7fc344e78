"""/api/v1/users/ and /api/v1/users/{id}/ (+ /me/): permissions, filters, validation, sync messages."""
from __future__ import annotations

import pytest
from django.urls import reverse

from auth_service.models import AuditEvent, User
from tts_common import contracts

from .conftest import assert_error, row_counts
from .factories import PASSWORD, AssignmentFactory, RoleFactory, SystemFactory, UserFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("auth-users")
ME_URL = reverse("auth-user-me")


def detail_url(user_id: int) -> str:
    return reverse("auth-user-detail", args=[user_id])


NEW_USER = {
    "username": "newbie",
    "password": "a-long-enough-passphrase",
    "email": "Newbie@Example.com",
    "first_name": "New",
    "last_name": "Bie",
}


# --- List -------------------------------------------------------------------------------------------------------
def test_admins_list_users_paginated_with_their_roles(admin_client, admin_user, agent):
    response = admin_client.get(LIST_URL)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "count_is_estimate", "next", "previous", "results"}
    assert [user["username"] for user in body["results"]] == [admin_user.username, agent.username]
    agent_row = body["results"][1]
    assert agent_row["roles"] == [
        {
            "role_id": agent.system_roles.get().role_id,
            "system": "TTS",
            "role_name": "IT Support Agent",
            "role_is_active": True,
            "assigned_at": agent_row["roles"][0]["assigned_at"],
        }
    ]
    assert "password" not in agent_row and "sync_version" not in agent_row


def test_user_list_filters(admin_client, admin_user, agent, agent_role):
    retired = UserFactory(username="retired", email="old@corp.test", is_active=False)
    ams_user = AssignmentFactory(user__username="assets", role=RoleFactory(system=SystemFactory(code="AMS"))).user

    def usernames(**params) -> list[str]:
        response = admin_client.get(LIST_URL, params)
        assert response.status_code == 200, response.json()
        return [user["username"] for user in response.json()["results"]]

    assert usernames(is_active="false") == [retired.username]
    assert usernames(role=agent_role.pk) == [agent.username]
    assert usernames(role_name="it support agent") == [agent.username]
    assert usernames(system="ams") == [ams_user.username]
    assert usernames(system="TTS") == [admin_user.username, agent.username]
    assert usernames(search="CORP.test") == [retired.username]
    assert usernames(ordering="-username", page_size=1) == ["retired"]


@pytest.mark.parametrize(
    ("params", "status"), [({"is_active": "maybe"}, 400), ({"role": "abc"}, 400), ({"page": 99}, 404)]
)
def test_bad_list_parameters_are_rejected(admin_client, params, status):
    assert_error(admin_client.get(LIST_URL, params), status)


def test_ordering_by_a_field_not_offered_is_ignored(admin_client):
    # DRF drops unknown ordering fields, so nobody can sort by (and so probe) password hashes.
    assert admin_client.get(LIST_URL, {"ordering": "password"}).status_code == 200


def test_only_admins_list_users(client_for, agent):
    assert_error(client_for(agent).get(LIST_URL), 403)
    assert_error(client_for(None).get(LIST_URL), 401)


def test_staff_without_the_admin_role_are_admins(client_for):
    assert client_for(UserFactory(is_staff=True)).get(LIST_URL).status_code == 200


# --- Create -----------------------------------------------------------------------------------------------------
def test_admin_creates_a_user_and_its_first_snapshot_is_published(admin_client, published):
    with published() as sent:
        response = admin_client.post(LIST_URL, NEW_USER, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    user = User.objects.get(username="newbie")
    assert body["id"] == user.pk and body["email"] == "newbie@example.com" and body["roles"] == []
    assert user.check_password(NEW_USER["password"]) and user.is_active and not user.is_staff
    assert [(message.route, message.kwargs) for message in sent] == [
        (
            contracts.ROLE_SYNC,
            {
                "user_data": {
                    "user_id": user.pk,
                    "username": "newbie",
                    "email": "newbie@example.com",
                    "is_active": True,
                    "version": 1,
                    "system_roles": [],
                }
            },
        )
    ]


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"username": None}, ("username",)),
        ({"password": None}, ("password",)),
        ({"username": 42}, ("username",)),
        ({"username": "has space"}, ("username",)),
        ({"username": "agent"}, ("username",)),  # taken
        ({"email": "AGENT@example.com"}, ("email",)),  # taken, in another case
        ({"email": "not-an-email"}, ("email",)),
        ({"email": ["a@b.c"]}, ("email",)),
        ({"password": "12345678901"}, ("password",)),  # all digits
        ({"password": "short"}, ("password",)),
        ({"password": "password123"}, ("password",)),  # common
        ({"is_active": "maybe"}, ("is_active",)),
        ({"first_name": "x" * 151}, ("first_name",)),
        ({"is_staff": True}, ("is_staff",)),  # not settable here
    ],
)
def test_create_with_bad_input_is_400_and_writes_nothing(admin_client, agent, published, change, fields):
    body = {key: value for key, value in {**NEW_USER, **change}.items() if value is not None}
    before = row_counts()

    with published() as sent:
        response = admin_client.post(LIST_URL, body, format="json")

    assert_error(response, 400, *fields)
    assert row_counts() == before
    assert sent == []


def test_only_admins_create_users(client_for, agent):
    before = row_counts()

    assert_error(client_for(agent).post(LIST_URL, NEW_USER, format="json"), 403)
    assert_error(client_for(None).post(LIST_URL, NEW_USER, format="json"), 401)
    assert row_counts() == before


# --- Detail -----------------------------------------------------------------------------------------------------
def test_admin_reads_anyone_and_users_read_themselves(admin_client, client_for, agent):
    assert admin_client.get(detail_url(agent.pk)).json()["username"] == agent.username
    assert client_for(agent).get(detail_url(agent.pk)).json()["username"] == agent.username
    assert client_for(agent).get(ME_URL).json()["id"] == agent.pk


def test_other_users_look_like_missing_ones(client_for, agent, admin_user):
    """A 404 for someone else's id, exactly as for an id that does not exist: user ids are not enumerable."""
    client = client_for(agent)

    assert assert_error(client.get(detail_url(admin_user.pk)), 404) == assert_error(client.get(detail_url(10**9)), 404)
    assert_error(client.patch(detail_url(admin_user.pk), {"first_name": "Evil"}, format="json"), 404)
    assert User.objects.get(pk=admin_user.pk).first_name != "Evil"


def test_unknown_user_is_404_for_admins(admin_client):
    assert_error(admin_client.get(detail_url(10**9)), 404)
    assert_error(admin_client.patch(detail_url(10**9), {"first_name": "X"}, format="json"), 404)
    assert_error(admin_client.delete(detail_url(10**9)), 404)


def test_detail_needs_a_token(client_for, agent):
    assert_error(client_for(None).get(detail_url(agent.pk)), 401)
    assert_error(client_for(None).get(ME_URL), 401)


# --- Update -----------------------------------------------------------------------------------------------------
def test_admin_updates_profile_and_status_publishing_only_snapshot_changes(admin_client, agent, published):
    with published() as sent:
        names = admin_client.patch(detail_url(agent.pk), {"first_name": "Ann", "last_name": "Lee"}, format="json")
    assert names.status_code == 200 and names.json()["first_name"] == "Ann"
    assert sent == []  # names are not part of the sync snapshot

    with published() as sent:
        response = admin_client.patch(
            detail_url(agent.pk), {"email": "ann@corp.test", "is_active": False}, format="json"
        )

    assert response.status_code == 200 and response.json()["is_active"] is False
    assert [message.kwargs["user_data"]["email"] for message in sent] == ["ann@corp.test"]
    assert sent[0].kwargs["user_data"]["is_active"] is False and sent[0].kwargs["user_data"]["version"] == 1


def test_admin_reactivates_a_user(admin_client, published):
    user = UserFactory(is_active=False)

    with published() as sent:
        response = admin_client.patch(detail_url(user.pk), {"is_active": True}, format="json")

    assert response.json()["is_active"] is True
    assert sent[0].kwargs["user_data"]["is_active"] is True


def test_admin_resets_a_password_without_knowing_it(admin_client, agent):
    assert admin_client.patch(detail_url(agent.pk), {"password": "brand-new-secret"}, format="json").status_code == 200

    agent.refresh_from_db()
    assert agent.check_password("brand-new-secret")


def test_users_edit_their_own_profile(client_for, agent):
    response = client_for(agent).patch(ME_URL, {"first_name": "Me", "last_name": "Myself"}, format="json")

    assert response.status_code == 200, response.json()
    agent.refresh_from_db()
    assert (agent.first_name, agent.last_name) == ("Me", "Myself")


def test_users_cannot_change_their_own_email_nor_learn_which_are_taken(client_for, agent, admin_user):
    client = client_for(agent)

    # The same refusal for someone else's address as for a free one: nothing to enumerate.
    taken = assert_error(client.patch(ME_URL, {"email": admin_user.email}, format="json"), 403)
    free = assert_error(client.patch(ME_URL, {"email": "nobody-has-this@corp.test"}, format="json"), 403)

    assert taken == free
    agent.refresh_from_db()
    assert agent.email == "agent@example.com"


def test_an_admins_change_of_an_email_is_audited(admin_client, admin_user, agent):
    assert admin_client.patch(detail_url(agent.pk), {"email": "new@corp.test"}, format="json").status_code == 200

    event = AuditEvent.objects.get(event_type="user.changed", target_user_id=agent.pk)
    assert (event.actor_id, event.actor_username, event.target_username, event.details) == (
        admin_user.pk, admin_user.username, agent.username, {"fields": ["email"]}
    )  # fmt: skip
    assert event.source_address == "127.0.0.1"  # the test client's REMOTE_ADDR


def test_users_change_their_password_with_the_current_one(client_for, agent):
    client = client_for(agent)

    assert_error(client.patch(ME_URL, {"password": "brand-new-secret"}, format="json"), 400, "current_password")
    assert_error(
        client.patch(ME_URL, {"password": "brand-new-secret", "current_password": "wrong"}, format="json"),
        400,
        "current_password",
    )
    agent.refresh_from_db()
    assert agent.check_password(PASSWORD)

    response = client.patch(ME_URL, {"password": "brand-new-secret", "current_password": PASSWORD}, format="json")

    assert response.status_code == 200
    agent.refresh_from_db()
    assert agent.check_password("brand-new-secret")


def test_users_cannot_change_their_own_status(client_for, agent, published):
    with published() as sent:
        assert_error(client_for(agent).patch(ME_URL, {"is_active": False}, format="json"), 403)

    agent.refresh_from_db()
    assert agent.is_active and sent == []


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"email": "nope"}, ("email",)),
        ({"email": "BOSS@example.com"}, ("email",)),  # the admin's
        ({"is_active": "sometimes"}, ("is_active",)),
        ({"first_name": 7}, ("first_name",)),
        ({"username": "renamed"}, ("username",)),  # not editable through the API
        ({"password": "123"}, ("password",)),
    ],
)
def test_update_with_bad_input_is_400_and_changes_nothing(admin_client, admin_user, agent, published, body, fields):
    before = list(User.objects.order_by("pk").values())

    with published() as sent:
        assert_error(admin_client.patch(detail_url(agent.pk), body, format="json"), 400, *fields)

    assert list(User.objects.order_by("pk").values()) == before
    assert sent == []


def test_put_on_a_user_is_not_allowed(admin_client, agent):
    assert_error(admin_client.put(detail_url(agent.pk), {}, format="json"), 405)


# --- Deactivate ---------------------------------------------------------------------------------------------------
def test_delete_deactivates_and_publishes(admin_client, agent, published):
    with published() as sent:
        response = admin_client.delete(detail_url(agent.pk))

    assert response.status_code == 204
    agent.refresh_from_db()
    assert agent.is_active is False  # still there: never hard-deleted
    assert [message.kwargs["user_data"]["is_active"] for message in sent] == [False]

    with published() as sent:
        assert admin_client.delete(detail_url(agent.pk)).status_code == 204
    assert sent == []  # already inactive: nothing changed, nothing published


def test_only_admins_deactivate(client_for, admin_client, agent, admin_user):
    assert_error(client_for(agent).delete(detail_url(admin_user.pk)), 403)
    assert_error(client_for(agent).delete(detail_url(agent.pk)), 403)
    assert_error(client_for(None).delete(detail_url(agent.pk)), 401)
    assert_error(admin_client.delete(ME_URL), 405)
    assert User.objects.filter(is_active=True).count() == 2


# --- Staff and superuser accounts ---------------------------------------------------------------------------------
def test_only_a_superuser_changes_staff_and_superuser_accounts(client_for, admin_client, agent_role):
    staff = UserFactory(username="staffer", is_staff=True)
    root = UserFactory(username="root", is_staff=True, is_superuser=True)

    for target in (staff, root):
        assert_error(admin_client.patch(detail_url(target.pk), {"first_name": "Pwned"}, format="json"), 403)
        assert_error(admin_client.delete(detail_url(target.pk)), 403)
        assert_error(
            admin_client.post(reverse("auth-user-roles", args=[target.pk]), {"role_id": agent_role.pk}, format="json"),
            403,
        )
    superuser = client_for(root)
    assert superuser.patch(detail_url(staff.pk), {"first_name": "Fine"}, format="json").status_code == 200
    # Their owners still edit themselves.
    assert client_for(staff).patch(ME_URL, {"first_name": "Me"}, format="json").status_code == 200
    assert User.objects.get(pk=root.pk).first_name == "Test"
