"""Every permission of tts_common.base.permissions is enforced: a user whose role grants it is allowed, a user whose role
does not is refused with 403, over real HTTP against a running server.

The users are real auth_service users, their roles carry exactly the permission under test, and their tokens are
issued by auth_service's own token code: the whole chain (role -> token claim -> permission check) runs. A
permission added to the list without a case here fails ``test_every_permission_has_a_case``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from django.conf import settings

from auth_service import services as auth
from auth_service import tokens
from auth_service.models import System, User
from tests.conftest import ServerProcess, _process_env
from tests.workflow_api.factories import (
    RoleFactory,
    UserFactory,
    UserRoleFactory,
    deployed_workflow,
    ingested_task,
    role_with_users,
)
from tts_common.base import permissions
from workflow_api.models import Task

pytestmark = pytest.mark.django_db(transaction=True)  # the server process reads what the test writes
NINE_TO_FIVE = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


@pytest.fixture(scope="module")
def server(django_db_setup, tmp_path_factory) -> Iterator[ServerProcess]:
    """One server for every case (each case's data is its own: users, roles, workflow)."""
    process = ServerProcess(tmp_path_factory.mktemp("permissions") / "server.log", _process_env())
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


@dataclass
class Probe:
    """A user of the auth service with their access token, and the open task assigned to them."""

    user: User
    base_url: str
    token: str
    task: Task

    def request(self, method: str, path: str, body: Any = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return requests.request(method, self.base_url + path, json=body, headers=headers, timeout=15)


@dataclass
class Setup:
    allowed: Probe  # a role with the permission under test
    refused: Probe  # a role with no permission at all
    workflow_id: int
    step_role_id: int

    def other(self, probe: Probe) -> Probe:
        return self.refused if probe is self.allowed else self.allowed


def _setup(permission: str, base_url: str) -> Setup:
    """Two auth users, one per role (with the permission; with none), both members of the first step's role of a
    deployed workflow, each holding one of its tasks (round-robin gives one each)."""
    tts, _ = System.objects.get_or_create(code=settings.TTS_SYSTEM, defaults={"name": "TTS"})
    users = []
    for name, granted in (("allowed", [permission]), ("refused", [])):
        role = auth.role_create(system=tts, name=f"Probe {name}", permissions=granted)
        user = auth.user_create(username=f"probe-{name}", password=None)
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
    allowed, refused = (
        Probe(user, base_url, tokens.token_pair_for_user(user=user).access_token, mine[user.pk]) for user in users
    )
    return Setup(allowed=allowed, refused=refused, workflow_id=workflow.pk, step_role_id=step_role.role_id)


def _act(action: str, **body: Any) -> Callable[[Setup, Probe], Any]:
    def call(setup: Setup, probe: Probe) -> Any:
        return probe.request("POST", f"/tasks/{probe.task.pk}/actions/", {"action": action, **body})

    return call


def _transfer(setup: Setup, probe: Probe) -> Any:
    body = {"action": "transfer", "to_user": setup.other(probe).user.pk}
    return probe.request("POST", f"/tasks/{probe.task.pk}/actions/", body)


# permission -> a request that needs it (and nothing else); the allowed probe's answer must be the success status.
CASES: dict[str, tuple[int, Callable[[Setup, Probe], Any]]] = {
    permissions.ADMIN: (200, lambda setup, probe: probe.request("GET", "/audit/")),
    permissions.TASK_ACT: (200, _act("hold", notes="waiting for parts")),
    permissions.TASK_TRANSFER: (200, _transfer),
    permissions.TASK_ESCALATE: (200, _act("escalate")),
    permissions.WORKFLOW_MANAGE: (
        201,
        lambda setup, probe: probe.request("POST", f"/workflows/{setup.workflow_id}/new-version/"),
    ),
    permissions.CALENDAR_MANAGE: (
        201,
        lambda setup, probe: probe.request(
            "POST", "/calendars/", {"name": "Probe hours", "time_zone": "UTC", "weekly_hours": NINE_TO_FIVE}
        ),
    ),
    permissions.REPORTS_VIEW: (200, lambda setup, probe: probe.request("GET", f"/roles/{setup.step_role_id}/fairness/")),
    permissions.DEAD_LETTERS_MANAGE: (200, lambda setup, probe: probe.request("GET", "/dead-letters/")),
    permissions.USERS_MANAGE: (200, lambda setup, probe: probe.request("GET", "/api/v1/audit/")),
    # The endpoint's own gate: each task is then refused or done on its own (here refused: no task.act).
    permissions.TASK_BULK: (
        200,
        lambda setup, probe: probe.request("POST", "/tasks/bulk-actions/", {"task_ids": [str(probe.task.pk)], "action": "hold"}),
    ),
}


@pytest.mark.django_db(transaction=False)
def test_every_permission_has_a_case() -> None:
    assert set(CASES) == permissions.PERMISSION_NAMES


@pytest.mark.parametrize("permission", sorted(CASES))
def test_a_permission_allows_and_its_absence_is_a_403(permission: str, server: ServerProcess) -> None:
    setup = _setup(permission, server.url)
    status, request = CASES[permission]

    refused = request(setup, setup.refused)
    assert refused.status_code == 403, refused.json()
    assert permission in refused.json()["detail"]

    allowed = request(setup, setup.allowed)
    assert allowed.status_code == status, allowed.json()
