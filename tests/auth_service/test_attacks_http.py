"""The attacks of issue 12 on the auth service, repeated as an outsider would: real HTTP (and a real WebSocket) against
a real server process, each asserting the refusal."""
from __future__ import annotations

import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from django.contrib.auth.hashers import make_password
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from auth_service import services
from auth_service.models import AuditEvent, User
from messaging_service.models import TicketParticipant, TicketReplica
from tts_common.base.permissions import ADMIN as ADMIN_PERMISSION
from tts_common.http.auth import WS_CLOSE_UNAUTHENTICATED

from .factories import PASSWORD, AssignmentFactory, RoleFactory, SystemFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 30


def server_user(**kwargs: Any) -> User:
    """A user whose password the server process can check (it hashes with Django's default hasher, not the tests')."""
    user = UserFactory(**kwargs)
    User.objects.filter(pk=user.pk).update(password=make_password(PASSWORD, hasher="pbkdf2_sha256"))
    return user


def tts_admin(**kwargs: Any) -> User:
    """An administrator by role (not staff): a TTS role with the admin permission."""
    role = RoleFactory(system=SystemFactory(code="TTS"), name="Admin", permissions=[ADMIN_PERMISSION])
    user = server_user(**kwargs)
    AssignmentFactory(user=user, role=role)
    return user


def token_login(server: Any, username: str, password: str = PASSWORD, client: str | None = None) -> requests.Response:
    headers = {"X-Forwarded-For": client} if client else {}
    return requests.post(
        f"{server.url}/token/", json={"username": username, "password": password}, headers=headers, timeout=TIMEOUT
    )


def audit_trail(username: str) -> list[tuple[str, str]]:
    """The auth audit's events about ``username``, oldest first: (event type, source address)."""
    events = AuditEvent.objects.filter(target_username=username).order_by("occurred_at", "id")
    return [(event.event_type, event.source_address) for event in events]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def admin_login(server: Any, username: str, password: str) -> requests.Response:
    """One login through Django admin's form, as a browser does it (CSRF cookie and token from the login page)."""
    session = requests.Session()
    page = session.get(f"{server.url}/admin/login/", timeout=TIMEOUT)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return session.post(
        f"{server.url}/admin/login/?next=/admin/",
        data={"csrfmiddlewaretoken": csrf, "username": username, "password": password, "next": "/admin/"},
        allow_redirects=False,
        timeout=TIMEOUT,
    )


def logged_into_admin(response: requests.Response) -> bool:
    return response.status_code == 302 and response.headers["Location"] == "/admin/"


# --- Item 4: /admin/login/ is throttled like /token/ ---------------------------------------------------------------
def test_admin_login_brute_force_is_refused(asgi_server):
    server_user(username="root", is_staff=True, is_superuser=True)
    server = asgi_server()

    wrong = [admin_login(server, "root", f"guess-{n}") for n in range(10)]
    right = admin_login(server, "root", PASSWORD)

    assert not any(logged_into_admin(response) for response in wrong)
    assert not logged_into_admin(right)
    assert "Too many failed login attempts" in right.text
    # The same counters as /token/: the address is locked out of the account there too.
    assert token_login(server, "root").status_code == 429


# --- Item 6: no one locks the owner out from another address; guessing is slowed -----------------------------------
def test_a_lockout_from_one_address_does_not_lock_the_owner_out_but_slows_guessing(asgi_server):
    server_user(username="owner")
    server = asgi_server(env={"NUM_PROXIES": "1"})  # behind one proxy: X-Forwarded-For names the client
    attacker = "203.0.113.9"

    assert [token_login(server, "owner", "wrong-guess", attacker).status_code for _ in range(5)] == [401] * 5
    locked = token_login(server, "owner", PASSWORD, attacker)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 60  # the window, not the back-off
    # Audited from the address the trusted proxy names: five failures, then the lockout (a 429 is neither).
    assert audit_trail("owner") == [("login.failed", attacker)] * 5 + [("login.locked_out", attacker)]

    owner = token_login(server, "owner", PASSWORD, "198.51.100.20")
    assert owner.status_code == 200, owner.text

    # Guesses spread over fresh addresses, sent at once: one attempt per back-off slot, the others told to wait.
    with ThreadPoolExecutor(max_workers=5) as pool:
        burst = list(pool.map(lambda n: token_login(server, "owner", "wrong-guess", f"203.0.113.{100 + n}"), range(5)))
    statuses = [response.status_code for response in burst]
    assert statuses.count(401) <= 1 and statuses.count(429) >= 4, statuses
    wait = max(int(response.headers["Retry-After"]) for response in burst if response.status_code == 429)
    assert 1 <= wait <= 60

    # The owner, from an address that is not locked, gets in once that short wait has passed.
    time.sleep(wait + 0.2)
    assert token_login(server, "owner", PASSWORD, "198.51.100.21").status_code == 200


def test_x_forwarded_for_is_ignored_unless_a_proxy_count_is_configured(asgi_server):
    server_user(username="owner")
    server = asgi_server()  # NUM_PROXIES unset: the peer address counts, whatever the header says

    for n in range(5):
        assert token_login(server, "owner", "wrong-guess", f"198.51.100.{n}").status_code == 401

    assert token_login(server, "owner", PASSWORD, "198.51.100.99").status_code == 429
    # The audit records the peer too, never the header's claim.
    assert audit_trail("owner") == [("login.failed", "127.0.0.1")] * 5 + [("login.locked_out", "127.0.0.1")]


# --- Item 8: a TTS admin cannot take over the superuser -------------------------------------------------------------
def test_a_tts_admin_cannot_change_the_superuser(asgi_server):
    root = server_user(username="root", is_staff=True, is_superuser=True)
    tts_admin(username="boss")
    server = asgi_server()
    token = token_login(server, "boss").json()["access_token"]
    root_url = f"{server.url}/api/v1/users/{root.pk}/"

    for change in ({"password": "taken-over-123"}, {"email": "mine@evil.test"}, {"is_active": False}):
        assert requests.patch(root_url, json=change, headers=bearer(token), timeout=TIMEOUT).status_code == 403
    assert requests.delete(root_url, headers=bearer(token), timeout=TIMEOUT).status_code == 403

    assert not logged_into_admin(admin_login(server, "root", "taken-over-123"))
    assert logged_into_admin(admin_login(server, "root", PASSWORD))
    root.refresh_from_db()
    assert root.is_active and root.email == "root@example.com"


# --- Item 9: tokens do not outlive deactivation, password changes or logout ----------------------------------------
def test_a_deactivated_users_access_token_is_refused_over_http_and_websocket(asgi_server):
    agent = server_user(username="agent")
    # The agent takes part in ticket T-1 (messaging_service's copy), so its comment feed is theirs to open.
    ticket = TicketReplica.objects.create(ticket_id="T-1", task_id=uuid.uuid4())
    TicketParticipant.objects.create(ticket=ticket, user_id=agent.pk, username=agent.username)
    server = asgi_server(env={"ACCOUNT_STATE_MAX_AGE_SECONDS": "1"})
    pair = token_login(server, "agent").json()
    me = f"{server.url}/api/v1/users/me/"
    feed = server.url.replace("http://", "ws://") + f"/ws/comments/T-1/?token={pair['access_token']}"
    assert requests.get(me, headers=bearer(pair["access_token"]), timeout=TIMEOUT).status_code == 200
    with connect(feed, open_timeout=TIMEOUT) as open_feed:
        open_feed.send(json.dumps({"type": "ping"}))
        assert json.loads(open_feed.recv(timeout=TIMEOUT)) == {"type": "pong"}

        services.user_deactivate(user=agent)  # by another process: the server learns it within the max age
        deactivated = time.monotonic()

        # The socket opened before is closed too, within the max age (plus the watcher's own period).
        with pytest.raises(ConnectionClosed) as closed:
            open_feed.recv(timeout=TIMEOUT)
        assert closed.value.rcvd.code == WS_CLOSE_UNAUTHENTICATED
        assert time.monotonic() - deactivated < 5

    refused = requests.get(me, headers=bearer(pair["access_token"]), timeout=TIMEOUT)
    assert refused.status_code == 401 and refused.json()["code"] == "token_revoked"
    comment = requests.post(
        f"{server.url}/api/comments/", json={"ticket_id": "T-1", "text": "still here"},
        headers=bearer(pair["access_token"]), timeout=TIMEOUT,
    )  # fmt: skip
    assert comment.status_code == 401
    assert requests.get(f"{server.url}/tasks/", headers=bearer(pair["access_token"]), timeout=TIMEOUT).status_code == 401
    with connect(feed, open_timeout=TIMEOUT) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=TIMEOUT)
    assert closed.value.rcvd.code == WS_CLOSE_UNAUTHENTICATED
    refresh = requests.post(f"{server.url}/token/refresh/", json={"refresh_token": pair["refresh_token"]}, timeout=30)
    assert refresh.status_code == 401


def test_tokens_die_with_a_password_change_logout_and_use(asgi_server):
    server_user(username="agent")
    server = asgi_server()

    def refresh(token: str) -> requests.Response:
        return requests.post(f"{server.url}/token/refresh/", json={"refresh_token": token}, timeout=TIMEOUT)

    # Rotation: a refresh token works once.
    first = token_login(server, "agent").json()
    rotated = refresh(first["refresh_token"])
    assert rotated.status_code == 200 and rotated.json()["refresh_token"] != first["refresh_token"]
    assert refresh(first["refresh_token"]).status_code == 401

    # Logout revokes the session's refresh token.
    logout = requests.post(
        f"{server.url}/token/logout/", json={"refresh_token": rotated.json()["refresh_token"]}, timeout=TIMEOUT
    )
    assert logout.status_code == 204
    assert refresh(rotated.json()["refresh_token"]).status_code == 401

    # A password change ends every session: a thief's copies of the tokens are refused.
    stolen = token_login(server, "agent").json()
    time.sleep(1.1)  # tokens issued in the very second of the change still count
    change = requests.patch(
        f"{server.url}/api/v1/users/me/", json={"password": "a-brand-new-pass", "current_password": PASSWORD},
        headers=bearer(token_login(server, "agent").json()["access_token"]), timeout=TIMEOUT,
    )  # fmt: skip
    assert change.status_code == 200, change.text
    assert refresh(stolen["refresh_token"]).status_code == 401
    me = requests.get(f"{server.url}/api/v1/users/me/", headers=bearer(stolen["access_token"]), timeout=TIMEOUT)
    assert me.status_code == 401
    # The new password works (its tokens are issued after the change).
    fresh = token_login(server, "agent", "a-brand-new-pass").json()["access_token"]
    assert requests.get(f"{server.url}/api/v1/users/me/", headers=bearer(fresh), timeout=TIMEOUT).status_code == 200


# --- Item 10: /users/me/ does not reveal which emails are registered -----------------------------------------------
def test_users_cannot_change_their_email_nor_probe_for_registered_ones(asgi_server):
    server_user(username="agent")
    server_user(username="someone", email="someone@corp.test")
    server = asgi_server()
    token = token_login(server, "agent").json()["access_token"]
    me = f"{server.url}/api/v1/users/me/"

    taken = requests.patch(me, json={"email": "someone@corp.test"}, headers=bearer(token), timeout=TIMEOUT)
    free = requests.patch(me, json={"email": "free@corp.test"}, headers=bearer(token), timeout=TIMEOUT)

    assert taken.status_code == free.status_code == 403
    assert {k: v for k, v in taken.json().items() if k != "request_id"} == {
        k: v for k, v in free.json().items() if k != "request_id"
    }
    assert User.objects.get(username="agent").email == "agent@example.com"


# --- Item 14: admin is the role's permission, not its name ---------------------------------------------------------
def test_admin_is_decided_by_the_admin_permission_not_the_role_name(asgi_server):
    boss = tts_admin(username="boss")
    impostor = server_user(username="impostor")
    server = asgi_server()
    users = f"{server.url}/api/v1/users/"
    token = token_login(server, "boss").json()["access_token"]

    def call(method: str, path: str, body: dict[str, Any]) -> requests.Response:
        return requests.request(method, f"{server.url}{path}", json=body, headers=bearer(token), timeout=TIMEOUT)

    # Renaming the admin role keeps its holders administrators.
    [admin_role] = [assignment.role for assignment in boss.system_roles.all()]
    assert call("PATCH", f"/api/v1/roles/{admin_role.pk}/", {"name": "Operators"}).status_code == 200
    renewed = token_login(server, "boss").json()["access_token"]
    assert requests.get(users, headers=bearer(renewed), timeout=TIMEOUT).status_code == 200

    # A TTS role named "Admin" without the permission gives nothing.
    named_admin = call("POST", "/api/v1/roles/", {"system": "TTS", "name": "Admin"})
    assert named_admin.status_code == 201
    assert call("POST", f"/api/v1/users/{impostor.pk}/roles/", {"role_id": named_admin.json()["id"]}).status_code == 201
    impostor_token = token_login(server, "impostor").json()["access_token"]
    assert requests.get(users, headers=bearer(impostor_token), timeout=TIMEOUT).status_code == 403
