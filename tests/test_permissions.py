"""Every permission of tts_common.permissions is enforced: a user whose role grants it is allowed, the same user with a
role that does not is refused with 403.

The users are real auth_service users, their roles carry exactly the permission under test, and their tokens come
from ``POST /token/``: the whole chain (role -> token claim -> permission check) runs, through Django's full request
stack. A permission added to the list without a case here fails ``test_every_permission_has_a_case``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from auth_service import services as auth
from auth_service.models import System, User
from tests.workflow_api.factories import (
    RoleFactory,
    UserFactory,
    UserRoleFactory,
    deployed_workflow,
    ingested_task,
    role_with_users,
)
from tts_common import permissions
from workflow_api.models import Task

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

PASSWORD = "a-long-probe-password"
NINE_TO_FIVE = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


@dataclass
class Probe:
    """A user of the auth service with a client logged in as them, and the open task assigned to them."""

    user: User
    client: APIClient
    task: Task


@dataclass
class Setup:
    allowed: Probe  # a role with the permission under test
    refused: Probe  # a role with no permission at all
    workflow_id: int
    step_role_id: int

    def other(self, probe: Probe) -> Probe:
        return self.refused if probe is self.allowed else self.allowed


def _login(username: str) -> APIClient:
    client = APIClient()
    response = client.post("/token/", {"username": username, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.json()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access_token']}")
    return client


def _setup(permission: str) -> Setup:
    """Two auth users, one per role (with the permission; with none), both members of the first step's role of a
    deployed workflow, each holding one of its tasks (round-robin gives one each)."""
    tts, _ = System.objects.get_or_create(code=settings.TTS_SYSTEM, defaults={"name": "TTS"})
    users = []
    for name, granted in (("allowed", [permission]), ("refused", [])):
        role = auth.role_create(system=tts, name=f"Probe {name}", permissions=granted)
        user = auth.user_create(username=f"probe-{name}", password=PASSWORD)
        auth.user_role_assign(user=user, role=role)
        users.append(user)
    # The workflow engine's copies of them (as role sync makes them), in the role of the workflow's first step.
    step_role = RoleFactory(name="Probe step")
    for user in users:
        UserRoleFactory(user=UserFactory(user_id=user.pk, username=user.username), role=step_role)
    coordinator_role, _ = role_with_users(1, name="Probe coordinators")
    workflow = deployed_workflow(
        step_roles=[step_role, role_with_users(1, name="Probe engineers")[0]],
        coordinator_role=coordinator_role,
        category="Probe",
        sub_category="Permissions",
    )
    tasks = [ingested_task(f"PERM-{n}", category="Probe", sub_category="Permissions") for n in range(2)]
    mine = {task.assigned_user_id: task for task in tasks}
    allowed, refused = (Probe(user, _login(user.username), mine[user.pk]) for user in users)
    return Setup(allowed=allowed, refused=refused, workflow_id=workflow.pk, step_role_id=step_role.role_id)


def _act(action: str, **body: Any) -> Callable[[Setup, Probe], Any]:
    def call(setup: Setup, probe: Probe) -> Any:
        return probe.client.post(f"/tasks/{probe.task.pk}/actions/", {"action": action, **body}, format="json")

    return call


def _transfer(setup: Setup, probe: Probe) -> Any:
    body = {"action": "transfer", "to_user": setup.other(probe).user.pk}
    return probe.client.post(f"/tasks/{probe.task.pk}/actions/", body, format="json")


# permission -> a request that needs it (and nothing else); the allowed probe's answer must be the success status.
CASES: dict[str, tuple[int, Callable[[Setup, Probe], Any]]] = {
    permissions.ADMIN: (200, lambda setup, probe: probe.client.get("/audit/")),
    permissions.TASK_ACT: (200, _act("hold", notes="waiting for parts")),
    permissions.TASK_TRANSFER: (200, _transfer),
    permissions.TASK_ESCALATE: (200, _act("escalate")),
    permissions.WORKFLOW_MANAGE: (
        201,
        lambda setup, probe: probe.client.post(f"/workflows/{setup.workflow_id}/new-version/", format="json"),
    ),
    permissions.CALENDAR_MANAGE: (
        201,
        lambda setup, probe: probe.client.post(
            "/calendars/", {"name": "Probe hours", "time_zone": "UTC", "weekly_hours": NINE_TO_FIVE}, format="json"
        ),
    ),
    permissions.REPORTS_VIEW: (200, lambda setup, probe: probe.client.get(f"/roles/{setup.step_role_id}/fairness/")),
    permissions.DEAD_LETTERS_MANAGE: (200, lambda setup, probe: probe.client.get("/dead-letters/")),
    permissions.USERS_MANAGE: (200, lambda setup, probe: probe.client.get("/api/v1/audit/")),
}
# Permissions whose endpoints are built on other branches (bulk task actions), which add their case when merged.
AWAITING_THEIR_ENDPOINTS = {permissions.TASK_BULK}


def test_every_permission_has_a_case() -> None:
    assert set(CASES) | AWAITING_THEIR_ENDPOINTS == permissions.PERMISSION_NAMES
    assert not set(CASES) & AWAITING_THEIR_ENDPOINTS


@pytest.mark.parametrize("permission", sorted(CASES))
def test_a_permission_allows_and_its_absence_is_a_403(permission: str) -> None:
    setup = _setup(permission)
    status, request = CASES[permission]

    refused = request(setup, setup.refused)
    assert refused.status_code == 403, refused.json()
    assert permission in refused.json()["detail"]

    allowed = request(setup, setup.allowed)
    assert allowed.status_code == status, allowed.json()
