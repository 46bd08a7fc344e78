"""The done-when of external approval, on the real stack: a real worker process (one pool process, so one circuit
breaker) calls an AMS stub that times out; after 5 timeouts the circuit opens and later checks fail fast without
reaching AMS; every task waits in pending external approval and admins are told; once AMS is healthy and the
recovery time is over, beat's retry scan sends the checks again, the circuit closes and the tasks complete."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import queue_depth, wait_for
from tests.stubs import AmsStub, json_http_server
from tests.workflow_api.factories import api_client, deployed_workflow, ingested_task, role_with_users
from tests.workflow_api.scheduling import celery_beat  # noqa: F401 (fixture)
from tts_common import contracts
from tts_common.base.permissions import ADMIN as ADMIN_PERMISSION
from workflow_api.models import ExternalAction, IntegrationHealth, Task

TASKS = 7
THRESHOLD = 5
RECOVERY_SECONDS = 4


@pytest.fixture
def slow_ams() -> Iterator[tuple[AmsStub, str]]:
    stub = AmsStub()
    stub.answer(200, {}, delay=1.5)  # past the worker's 0.5 s timeout
    with json_http_server(stub) as url:
        yield stub, url


def statuses() -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in Task.objects.values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


@pytest.mark.django_db(transaction=True)
def test_ams_timeouts_open_the_circuit_and_tasks_flow_again_after_recovery(
    monkeypatch, settings, celery_worker, celery_beat, slow_ams, broker  # noqa: F811
):
    ams, url = slow_ams
    settings.AMS_URL = url  # this process serves the health endpoint
    for name, value in {
        "AMS_URL": url,
        "AMS_API_KEY": ams.api_key,
        "AMS_TIMEOUT_SECONDS": "0.5",
        "CIRCUIT_FAILURE_THRESHOLD": str(THRESHOLD),
        "CIRCUIT_RECOVERY_SECONDS": str(RECOVERY_SECONDS),
        "EXTERNAL_RETRY_INTERVAL_SECONDS": "1",
        "SLA_SCAN_INTERVAL_SECONDS": "3600",
        "DEAD_LETTER_DRAIN_INTERVAL_SECONDS": "3600",
    }.items():
        monkeypatch.setenv(name, value)
    _, [admin] = role_with_users(1, system=settings.TTS_SYSTEM, permissions=[ADMIN_PERMISSION])
    coordinator_role, _ = role_with_users(1, name="Coordinator")
    agent_role, _ = role_with_users(2, name="Agent")
    workflow = deployed_workflow(
        step_roles=[agent_role], coordinator_role=coordinator_role, category="IT Support", sub_category="Network"
    )
    workflow.steps.update(external_action=ExternalAction.AMS_RESERVE)
    tasks = [ingested_task(f"EQ-{n}", asset_id=f"LAPTOP-{n}", duration_days=5) for n in range(TASKS)]
    celery_worker(queues=(contracts.EXTERNAL_CHECK.queue, contracts.EXTERNAL_RETRY_SCAN.queue), concurrency=1)

    for task in tasks:
        response = api_client(task.assigned_user).post(f"/tasks/{task.task_id}/actions/", {"action": "approve"})
        assert response.status_code == 200 and response.json()["status"] == "awaiting_external"

    wait_for(lambda: statuses() == {"pending_external_approval": TASKS}, timeout=60, message="all tasks pending")
    assert ams.hits == THRESHOLD  # the checks after the 5th timeout failed fast, without reaching AMS
    errors = [task.external_error for task in Task.objects.order_by("external_requested_at")]
    assert sum("timed out" in error for error in errors) == THRESHOLD
    assert sum("circuit open" in error for error in errors) == TASKS - THRESHOLD
    row = IntegrationHealth.objects.get(name="ams")
    assert (row.circuit_state, row.calls, row.errors, row.last_success_at) == ("open", TASKS, TASKS, None)
    health = {r["name"]: r for r in api_client(is_admin=True).get("/integrations/health/").json()}
    assert (health["ams"]["status"], health["ams"]["pending_tasks"]) == ("down", TASKS)
    # Admins were told once per task (the worker does not consume the in-app queue: the messages wait there).
    assert queue_depth(broker, contracts.INAPP_NOTIFICATION.queue) == TASKS

    ams.heal()
    celery_beat()
    wait_for(lambda: statuses() == {"completed": TASKS}, timeout=60, message="all tasks completed after recovery")
    assert ams.hits == THRESHOLD + TASKS  # each waiting task checked once more
    # The first call after the 5th timeout waited out the recovery time: none was made while the circuit was open.
    assert ams.received[THRESHOLD].at - ams.received[THRESHOLD - 1].at >= RECOVERY_SECONDS
    assert {task.external_reference for task in Task.objects.all()} == {f"RES-{n}" for n in range(1, TASKS + 1)}
    assert ams.refused == []
    row = IntegrationHealth.objects.get(name="ams")
    assert (row.circuit_state, row.last_ok, row.errors) == ("closed", True, TASKS)
    assert row.last_success_at is not None
    health = {r["name"]: r for r in api_client(is_admin=True).get("/integrations/health/").json()}
    assert (health["ams"]["status"], health["ams"]["pending_tasks"]) == ("ok", 0)
