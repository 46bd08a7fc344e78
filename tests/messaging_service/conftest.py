"""messaging_service test helpers: JWTs minted locally (no auth service needed) and a stand-in for the workflow and
auth APIs, a real HTTP server on loopback."""
from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from messaging_service.models import Comment
from tests.conftest import ServerProcess, _test_database_url
from tests.stubs import json_http_server
from tts_common.accounts import account_state_set
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
def ticket() -> str:
    """A fresh ticket id per test: access answers are cached per ticket in the shared Redis."""
    return f"T-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def api() -> Callable[[Caller | None], APIClient]:
    def client(as_user: Caller | None = None) -> APIClient:
        c = APIClient()
        if as_user is not None:
            c.credentials(HTTP_AUTHORIZATION=f"Bearer {as_user.token}")
        return c

    return client


# --- A stand-in for the workflow API (/tasks/) and the auth API (/api/v1/users/) ---------------------------------
@dataclass
class Upstream:
    """Plays DESIGN's visibility rule: a caller sees the tasks assigned to or owned by them; admins see all."""

    url: str = ""
    tasks: list[dict[str, Any]] = field(default_factory=list)
    users: dict[str, int] = field(default_factory=dict)
    failing: bool = False
    requests: list[str] = field(default_factory=list)
    tokens: list[AccessToken] = field(default_factory=list)

    def add_task(self, ticket_id: str, *, assigned_user: int | None, owner: int | None = None) -> str:
        task_id = uuid.uuid4().hex
        self.tasks.append(
            {"task_id": task_id, "external_ticket_id": ticket_id, "assigned_user": assigned_user, "owner": owner}
        )
        return task_id

    def handle(self, path: str, query: dict[str, list[str]], authorization: str) -> tuple[int, Any]:
        self.requests.append(path)
        if self.failing:
            return 503, {"detail": "down"}
        try:
            token = AccessToken(authorization.removeprefix("Bearer "))
        except Exception:
            return 401, {"detail": "bad token"}
        self.tokens.append(token)
        if path == "/tasks/":
            ticket_id = query["external_ticket_id"][0]
            visible = [
                t for t in self.tasks
                if t["external_ticket_id"] == ticket_id
                and (token["is_admin"] or token["user_id"] in (t["assigned_user"], t["owner"]))
            ]  # fmt: skip
            return 200, {"count": len(visible), "next": None, "previous": None, "results": visible}
        if path == "/api/v1/users/":
            term = query.get("search", [""])[0]
            found = [{"id": uid, "username": name} for name, uid in self.users.items() if term in name]
            return 200, {"count": len(found), "next": None, "previous": None, "results": found}
        return 404, {"detail": "not found"}


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    state = Upstream()

    def handle(method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any) -> tuple[int, Any]:
        return state.handle(path, query, headers.get("Authorization", ""))

    with json_http_server(handle) as url:
        state.url = url
        yield state


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
        AccountState.objects.filter(user_id__in=callers).delete()


@pytest.fixture
def upstream_asgi_server(transactional_db, tmp_path, upstream) -> Iterator[ServerProcess]:
    """A real web process whose WORKFLOW_API_URL and AUTH_SERVICE_URL point at :func:`upstream`."""
    with running_server(
        tmp_path / "upstream-server.log",
        WORKFLOW_API_URL=upstream.url,
        AUTH_SERVICE_URL=upstream.url,
    ) as server:
        yield server
