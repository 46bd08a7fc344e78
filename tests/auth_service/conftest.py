"""auth_service test helpers: users with real tokens, a recorder of published messages, DB-count snapshots."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from auth_service import tokens
from auth_service.models import Role, System, User, UserSystemRole
from tests.conftest import capture_outbox
from tts_common import contracts
from tts_common.base.permissions import ADMIN as ADMIN_PERMISSION

from .factories import AssignmentFactory, RoleFactory, SystemFactory


@pytest.fixture(autouse=True)
def _clear_login_throttle() -> Iterator[None]:
    # Login failure counters live in the shared cache (Redis); they must not leak from one test into the next.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(fast_password_hashing) -> None:
    pass


@pytest.fixture
def client_for() -> Callable[[User | None], APIClient]:
    """``client_for(user)``: an APIClient sending a real access token of ``user`` (``None``: no token)."""

    def make(user: User | None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.token_pair_for_user(user=user).access_token}")
        return client

    return make


@pytest.fixture
def tts_admin_role(db) -> Role:
    return RoleFactory(system=SystemFactory(code=settings.TTS_SYSTEM), name="Admin", permissions=[ADMIN_PERMISSION])


@pytest.fixture
def agent_role(db) -> Role:
    return RoleFactory(system=SystemFactory(code=settings.TTS_SYSTEM), name="IT Support Agent")


@pytest.fixture
def admin_user(tts_admin_role: Role) -> User:
    """An admin by role (not staff), like the admins of DESIGN §5."""
    return AssignmentFactory(user__username="boss", role=tts_admin_role).user


@pytest.fixture
def agent(agent_role: Role) -> User:
    return AssignmentFactory(user__username="agent", role=agent_role).user


@pytest.fixture
def admin_client(client_for, admin_user: User) -> APIClient:
    return client_for(admin_user)


@pytest.fixture
def agent_client(client_for, agent: User) -> APIClient:
    return client_for(agent)


@dataclass
class Published:
    route: contracts.Route
    kwargs: dict[str, Any]


@pytest.fixture
def published(monkeypatch, django_capture_on_commit_callbacks) -> Callable[[], AbstractContextManager[list[Published]]]:
    """``with published() as sent:`` records the messages published (after commit) inside the block.

    The test's transaction never commits, so the block runs the on_commit callbacks of what committed inside it;
    callbacks of rolled-back savepoints are dropped by Django as on a real rollback.
    """
    current: list[list[Published]] = [[]]
    routes = {route.task: route for route in contracts.ROUTES}
    capture_outbox(monkeypatch, lambda task, args, kwargs: current[-1].append(Published(routes[task], kwargs)))

    @contextmanager
    def capture() -> Iterator[list[Published]]:
        current.append([])
        with django_capture_on_commit_callbacks(execute=True):
            yield current[-1]

    return capture


def row_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in (User, System, Role, UserSystemRole)}


def assert_error(response: Any, status: int, *fields: str) -> dict[str, Any]:
    """The stable error shape of tts_common.http.api, with field errors for ``fields`` on a 400."""
    body = response.json()
    assert response.status_code == status, body
    assert body["status"] == status and isinstance(body["code"], str) and body["detail"], body
    if fields:
        assert set(fields) <= set(body["errors"]), body
    return body
