"""messaging_service test helpers: JWTs minted locally (no auth service needed), tickets' participants recorded as
the sync consumer records them, and real web processes."""
from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from messaging_service import services
from messaging_service.models import Comment, TicketReplica
from tests.conftest import ServerProcess, _test_database_url
from tts_common.base import permissions
from tts_common.base.accounts import account_state_set
from tts_common.models import AccountState


@dataclass(frozen=True)
class Caller:
    id: int
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_token(user_id: int, username: str, *, is_admin: bool = False, lifetime: timedelta | None = None) -> str:
    token = AccessToken()
    if lifetime is not None:
        token.set_exp(lifetime=lifetime)
    token["user_id"] = user_id
    token["username"] = username
    token["roles"] = {"TTS": ["Admin"] if is_admin else ["IT Support Agent"]}
    token["is_admin"] = is_admin
    granted = [permissions.ADMIN] if is_admin else permissions.AGENT_DEFAULTS  # an agent's, or every one
    token["permissions"] = permissions.effective_permissions(granted)
    return str(token)


def caller(user_id: int, username: str, *, is_admin: bool = False) -> Caller:
    account_state_set(user_id=user_id, is_active=True)  # as auth_service records for its users
    return Caller(user_id, username, make_token(user_id, username, is_admin=is_admin))


ALICE, BOB, ADMIN = 101, 102, 1


@pytest.fixture
def alice() -> Caller:
    return caller(ALICE, "alice")


@pytest.fixture
def bob() -> Caller:
    return caller(BOB, "bob")


@pytest.fixture
def admin() -> Caller:
    return caller(ADMIN, "admin", is_admin=True)


@pytest.fixture
def carol() -> Caller:
    """Takes part in no ticket unless a test says so."""
    return caller(103, "carol")


def share(ticket_id: str, *participants: Caller, task_id: str | None = None) -> str:
    """Record ``participants`` as taking part in the ticket, as ``messaging.ticket_participants.sync`` does;
    returns the ticket's task id."""
    task_id = task_id or str(uuid.uuid4())
    services.ticket_participants_record(
        [
            {
                "ticket_id": ticket_id,
                "task_id": task_id,
                "participants": [{"user_id": p.id, "username": p.username} for p in participants],
            }
        ]
    )
    return task_id


@pytest.fixture
def ticket(alice, bob) -> str:
    """A fresh ticket id per test, which alice and bob take part in."""
    ticket_id = f"T-{uuid.uuid4().hex[:12]}"
    share(ticket_id, alice, bob)
    return ticket_id


@pytest.fixture
def api() -> Callable[[Caller | None], APIClient]:
    def client(as_user: Caller | None = None) -> APIClient:
        c = APIClient()
        if as_user is not None:
            c.credentials(HTTP_AUTHORIZATION=f"Bearer {as_user.token}")
        return c

    return client


def _wait_ready(server: ServerProcess, timeout: float = 90) -> None:
    """``server.wait_ready()``, also riding out health probes that time out on a loaded machine."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            server.wait_ready(timeout=max(1.0, deadline - time.monotonic()))
            return
        except requests.Timeout:
            if time.monotonic() > deadline:
                raise


@contextmanager
def running_server(log_path: Path, **env: str) -> Iterator[ServerProcess]:
    """A real uvicorn process on the test database, with extra environment."""
    server = ServerProcess(
        log_path, {**os.environ, "DATABASE_URL": _test_database_url(), "PYTHONUNBUFFERED": "1", **env}
    )
    try:
        _wait_ready(server)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def web_pair(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two web processes shared by a module's tests (starting one costs seconds); tests use their own ticket ids.
    The comments they wrote are removed at the end, as they are outside any test's transaction."""
    logs = tmp_path_factory.mktemp("web_pair")
    callers = (ALICE, BOB, ADMIN)
    with django_db_blocker.unblock():  # committed, for the servers: the tests' own rows are in their transactions
        for user_id in callers:
            account_state_set(user_id=user_id, is_active=True)
    with running_server(logs / "web1.log") as web1, running_server(logs / "web2.log") as web2:
        yield web1, web2
    with django_db_blocker.unblock():
        Comment.objects.all().delete()
        TicketReplica.objects.all().delete()
        AccountState.objects.filter(user_id__in=callers).delete()
