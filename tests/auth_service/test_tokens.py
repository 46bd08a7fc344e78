"""POST /token/ and /token/refresh/: shape, claims, expiry, inactive users, throttling, bad input."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from auth_service import services
from auth_service.models import User
from tts_common.base.permissions import ADMIN as ADMIN_PERMISSION
from tts_common.base.permissions import PERMISSION_NAMES

from .conftest import assert_error
from .factories import PASSWORD, AssignmentFactory, RoleFactory, SystemFactory, UserFactory

pytestmark = pytest.mark.django_db

TOKEN_URL = reverse("auth-token")
REFRESH_URL = reverse("auth-token-refresh")
LOGOUT_URL = reverse("auth-token-logout")
ME_URL = reverse("auth-user-me")


def login(username: str, password: str = PASSWORD, client: APIClient | None = None, **extra):
    return (client or APIClient()).post(TOKEN_URL, {"username": username, "password": password}, format="json", **extra)


def test_login_returns_the_token_pair_with_the_claims_of_active_roles(agent_role):
    bms = SystemFactory(code="BMS")
    user = AssignmentFactory(role=agent_role).user
    AssignmentFactory(user=user, role=RoleFactory(system=bms, name="Viewer"))
    AssignmentFactory(user=user, role=RoleFactory(system=bms, name="Retired", is_active=False))

    response = login(user.username)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds())
    access = AccessToken(body["access_token"])
    assert access["user_id"] == user.pk
    assert access["username"] == user.username
    assert access["roles"] == {"TTS": ["IT Support Agent"], "BMS": ["Viewer"]}
    assert (access["is_admin"], access["is_staff"], access["is_superuser"]) == (False, False, False)
    assert RefreshToken(body["refresh_token"])["user_id"] == user.pk


@pytest.mark.parametrize(
    ("factory_kwargs", "with_admin_role"),
    [({}, True), ({"is_staff": True}, False), ({"is_superuser": True}, False)],
    ids=["tts-admin-role", "staff", "superuser"],
)
def test_admins_are_flagged_in_the_token(tts_admin_role, factory_kwargs, with_admin_role):
    user = UserFactory(**factory_kwargs)
    if with_admin_role:
        AssignmentFactory(user=user, role=tts_admin_role)

    access = AccessToken(login(user.username).json()["access_token"])

    assert access["is_admin"] is True
    assert access["permissions"] == sorted(PERMISSION_NAMES)  # admin implies every permission


def test_the_permissions_claim_is_the_union_over_active_tts_roles(agent_role):
    tts = agent_role.system
    user = UserFactory()
    AssignmentFactory(user=user, role=RoleFactory(system=tts, name="Agents", permissions=["task.act", "task.transfer"]))
    AssignmentFactory(user=user, role=RoleFactory(system=tts, name="Reporters", permissions=["reports.view", "task.act"]))
    AssignmentFactory(user=user, role=RoleFactory(system=tts, name="Retired", permissions=["users.manage"], is_active=False))
    AssignmentFactory(user=user, role=RoleFactory(system=SystemFactory(code="BMS"), name="B", permissions=["calendar.manage"]))

    access = AccessToken(login(user.username).json()["access_token"])

    assert access["permissions"] == ["reports.view", "task.act", "task.transfer"]
    assert access["is_admin"] is False


def test_an_admin_role_of_another_system_is_not_tts_admin():
    role = RoleFactory(system=SystemFactory(code="AMS"), name="Admin", permissions=[ADMIN_PERMISSION])
    user = AssignmentFactory(role=role).user

    assert AccessToken(login(user.username).json()["access_token"])["is_admin"] is False


def test_the_access_token_authenticates_api_calls(agent):
    token = login(agent.username).json()["access_token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    response = client.get(ME_URL)

    assert response.status_code == 200
    assert response.json()["username"] == agent.username


def test_an_expired_access_token_is_rejected(agent):
    token = AccessToken.for_user(agent)
    token.set_exp(from_time=timezone.now() - timedelta(hours=1), lifetime=timedelta(minutes=5))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    assert_error(client.get(ME_URL), 401)


def test_a_token_signed_with_another_key_is_rejected(agent):
    forged = AccessToken(login(agent.username).json()["access_token"])
    header, payload, _ = str(forged).split(".")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {header}.{payload}.c2lnbmF0dXJl")

    assert_error(client.get(ME_URL), 401)


def test_wrong_password_and_unknown_user_get_the_same_401():
    UserFactory(username="known")

    wrong = assert_error(login("known", "nope-nope-nope"), 401)
    unknown = assert_error(login("nobody"), 401)

    assert wrong == unknown
    assert wrong["code"] == "invalid_credentials"


def test_inactive_users_cannot_log_in():
    UserFactory(username="gone", is_active=False)

    assert_error(login("gone"), 401)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ("username", "password")),
        ({"username": "x"}, ("password",)),
        ({"username": 12, "password": PASSWORD}, ("username",)),
        ({"username": "x", "password": ["a"]}, ("password",)),
        ({"username": "x", "password": PASSWORD, "otp": "1"}, ("otp",)),
    ],
)
def test_login_with_bad_input_is_400_with_field_errors(body, fields):
    assert_error(APIClient().post(TOKEN_URL, body, format="json"), 400, *fields)


def test_login_with_a_non_object_body_is_400():
    assert_error(APIClient().post(TOKEN_URL, ["admin", "pw"], format="json"), 400)


def test_refresh_returns_a_new_access_token_with_current_roles(agent, agent_role):
    pair = login(agent.username).json()
    services.user_role_assign(user=agent, role=RoleFactory(system=agent_role.system, name="Supervisor"))

    response = APIClient().post(REFRESH_URL, {"refresh_token": pair["refresh_token"]}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert AccessToken(body["access_token"])["roles"] == {"TTS": ["IT Support Agent", "Supervisor"]}
    # Rotated: a new refresh token, ending when the session's first one does.
    old, new = RefreshToken(pair["refresh_token"], verify=False), RefreshToken(body["refresh_token"])
    assert new["jti"] != old["jti"] and new["exp"] == old["exp"]


def test_a_refresh_token_works_once(agent):
    refresh = login(agent.username).json()["refresh_token"]
    assert APIClient().post(REFRESH_URL, {"refresh_token": refresh}, format="json").status_code == 200

    body = assert_error(APIClient().post(REFRESH_URL, {"refresh_token": refresh}, format="json"), 401)
    assert body["code"] == "token_not_valid"


def test_logout_revokes_the_refresh_token(agent):
    refresh = login(agent.username).json()["refresh_token"]

    assert APIClient().post(LOGOUT_URL, {"refresh_token": refresh}, format="json").status_code == 204

    assert_error(APIClient().post(REFRESH_URL, {"refresh_token": refresh}, format="json"), 401)
    assert_error(APIClient().post(LOGOUT_URL, {"refresh_token": refresh}, format="json"), 401)


@pytest.mark.parametrize("body", [{}, {"refresh_token": 5}, {"refresh_token": "not-a-jwt"}], ids=["none", "int", "bad"])
def test_logout_needs_a_valid_refresh_token(agent, body):
    expected = 401 if body.get("refresh_token") == "not-a-jwt" else 400
    assert_error(APIClient().post(LOGOUT_URL, body, format="json"), expected)


def test_refresh_accepts_simplejwts_field_name(agent):
    refresh = login(agent.username).json()["refresh_token"]

    assert APIClient().post(REFRESH_URL, {"refresh": refresh}, format="json").status_code == 200


def test_refresh_is_refused_once_the_user_is_deactivated(agent):
    refresh = login(agent.username).json()["refresh_token"]
    services.user_deactivate(user=agent)

    assert_error(APIClient().post(REFRESH_URL, {"refresh_token": refresh}, format="json"), 401)


def test_refresh_is_refused_after_a_password_change(agent):
    refresh = login(agent.username).json()["refresh_token"]
    services.user_update(user=agent, data={"password": "a-new-long-passphrase"})

    assert_error(APIClient().post(REFRESH_URL, {"refresh_token": refresh}, format="json"), 401)


def test_an_access_token_is_not_a_refresh_token(agent):
    access = login(agent.username).json()["access_token"]

    body = assert_error(APIClient().post(REFRESH_URL, {"refresh_token": access}, format="json"), 401)
    assert body["code"] == "token_not_valid"


def test_an_expired_refresh_token_is_refused(agent):
    refresh = RefreshToken(login(agent.username).json()["refresh_token"])
    refresh.set_exp(from_time=timezone.now() - timedelta(days=30))

    assert_error(APIClient().post(REFRESH_URL, {"refresh_token": str(refresh)}, format="json"), 401)


@pytest.mark.parametrize(
    "body",
    [{}, {"refresh_token": ""}, {"refresh_token": 5}, {"refresh_token": None}],
    ids=["missing", "blank", "int", "null"],
)
def test_refresh_with_bad_input_is_400(body):
    assert_error(APIClient().post(REFRESH_URL, body, format="json"), 400, "refresh_token")


# --- Throttling -------------------------------------------------------------------------------------------------
def test_repeated_bad_passwords_lock_that_address_out_of_the_account_with_429(settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    UserFactory(username="target")
    for _ in range(3):
        assert_error(login("target", "wrong-guess!", REMOTE_ADDR="10.0.0.1"), 401)

    # Even the right password is refused there while locked out, or guessing could simply go on.
    response = login("target", REMOTE_ADDR="10.0.0.1")

    body = assert_error(response, 429)
    assert body["code"] == "throttled"
    assert 0 < int(response["Retry-After"]) <= settings.LOGIN_FAILURE_WINDOW_SECONDS


def test_failures_from_elsewhere_only_slow_the_account_down(settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    UserFactory(username="target")
    for n in range(2):
        assert_error(login("target", "wrong-guess!", REMOTE_ADDR=f"10.0.0.{n}"), 401)

    # The back-off: the next attempt goes through, the one right after waits its 1 s turn.
    assert_error(login("target", "wrong-guess!", REMOTE_ADDR="10.0.0.50"), 401)
    slowed = assert_error(login("target", REMOTE_ADDR="10.0.0.99"), 429)
    assert slowed["code"] == "throttled"


def test_the_back_off_grows_and_is_capped_and_the_owner_gets_in_after_it(settings):
    settings.LOGIN_FAILURE_LIMIT, settings.LOGIN_BACKOFF_MAX_SECONDS = 1, 2
    UserFactory(username="target")
    assert_error(login("target", "wrong-guess!", REMOTE_ADDR="10.0.1.0"), 401)
    waits = []
    for n in range(1, 4):
        assert_error(login("target", "wrong-guess!", REMOTE_ADDR=f"10.0.1.{n}"), 401)  # takes its turn
        response = login("target", REMOTE_ADDR="10.0.2.1")  # right behind it: must wait
        assert_error(response, 429)
        waits.append(int(response["Retry-After"]))
        time.sleep(waits[-1] + 0.1)

    assert waits == [1, 2, 2]
    assert login("target", REMOTE_ADDR="10.0.2.1").status_code == 200


def test_failures_across_usernames_lock_the_client_address_out(settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 3
    UserFactory(username="innocent")
    for n in range(3):
        login(f"guess{n}", "wrong-guess!", REMOTE_ADDR="10.1.1.1")

    assert_error(login("innocent", REMOTE_ADDR="10.1.1.1"), 429)
    assert login("innocent", REMOTE_ADDR="10.1.1.2").status_code == 200


def test_a_successful_login_resets_its_address_counter(settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    UserFactory(username="typo")
    for _ in range(2):
        login("typo", "wrong-guess!", REMOTE_ADDR="10.0.0.1")
    assert login("typo", REMOTE_ADDR="10.0.0.1").status_code == 200

    # Without the reset, the first of these would lock the address out and the second be a 429.
    for _ in range(2):
        assert_error(login("typo", "wrong-guess!", REMOTE_ADDR="10.0.0.1"), 401)


@pytest.mark.parametrize(("num_proxies", "counted_as"), [(0, "10.9.9.9"), (1, "198.51.100.7")])
def test_x_forwarded_for_names_the_client_only_with_a_trusted_proxy_count(settings, num_proxies, counted_as):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": num_proxies}
    settings.LOGIN_FAILURE_LIMIT = 2
    UserFactory(username="target")
    for spoofed in ("203.0.113.1", "203.0.113.2"):
        login("target", "wrong-guess!", REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR=f"{spoofed}, 198.51.100.7")

    # Without trusted proxies both guesses came from REMOTE_ADDR; with one, from the address that proxy saw.
    assert_error(login("target", REMOTE_ADDR=counted_as, HTTP_X_FORWARDED_FOR=counted_as), 429)


def test_bad_input_does_not_count_as_a_failed_login(settings):
    settings.LOGIN_FAILURE_LIMIT = 1
    UserFactory(username="careful")
    APIClient().post(TOKEN_URL, {"username": "careful"}, format="json")

    assert login("careful").status_code == 200


def test_users_table_untouched_by_logins(agent):
    before = list(User.objects.values_list("pk", "last_login", "sync_version"))
    login(agent.username)
    login(agent.username, "wrong-guess!")

    assert list(User.objects.values_list("pk", "last_login", "sync_version")) == before


def test_access_tokens_do_not_come_back_with_a_reactivation(agent):
    token = login(agent.username).json()["access_token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    time.sleep(1.1)  # tokens issued in the very second of the deactivation still count

    services.user_deactivate(user=agent)
    assert_error(client.get(ME_URL), 401)
    services.user_update(user=agent, data={"is_active": True})

    body = assert_error(client.get(ME_URL), 401)
    assert body["code"] == "token_revoked"
    assert login(agent.username).status_code == 200
