"""API fuzzing: schemathesis against the running system's own OpenAPI document (``/api/schema/``).

A real server (uvicorn, the default settings: DEBUG off) with the demo data and a task, a comment, a dead letter, an
integration error and a notification to read back; schemathesis (the same command as README's) generates valid and
invalid requests for every operation, as an administrator and as an agent, and checks each response: no 5xx, every
status code documented, the documented content type, response bodies and headers matching the schema.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from django.core.cache import cache
from django.core.management import call_command
from kombu import Connection

from messaging_service.models import TicketReplica
from tests.conftest import ServerProcess, WorkerProcess, wait_for
from tts_common import contracts
from tts_common.messaging import publisher

pytestmark = pytest.mark.django_db(transaction=True)

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    ]
)
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
# A fixed sample, so that CI turns red for a change, not for a draw; set FUZZ_SEED to another number to explore.
SEED = os.environ.get("FUZZ_SEED", "20261201")


def login(server: ServerProcess, username: str, password: str) -> str:
    response = requests.post(f"{server.url}/token/", json={"username": username, "password": password}, timeout=30)
    response.raise_for_status()
    return response.json()["access_token"]


def seed(server: ServerProcess, admin: str) -> None:
    """Something behind the list and detail endpoints, so that response bodies are checked, not only empty lists."""
    headers = {"Authorization": f"Bearer {admin}"}
    ticket = {
        "ticket_id": "FUZZ-1", "title": "Printer on fire", "category": "IT Support", "sub_category": "Network",
        "priority": "high", "requester_email": "ana@example.com", "created_at": "2026-01-31T09:30:00Z",
        "attachments": [{"filename": "a.png", "url": "https://files.example.com/a.png"}],
    }  # fmt: skip
    for path, body in [
        ("/tasks/", ticket),
        ("/api/tickets/", {**ticket, "ticket_id": "FUZZ-2"}),
    ]:
        response = requests.post(f"{server.url}{path}", json=body, headers=headers, timeout=30)
        assert response.status_code == 201, response.text
    # Comments open once messaging_service's worker has the ticket's participants.
    wait_for(lambda: TicketReplica.objects.filter(pk="FUZZ-1").exists(), timeout=60, message="FUZZ-1's participants")
    response = requests.post(
        f"{server.url}/api/comments/", json={"ticket_id": "FUZZ-1", "text": "On it."}, headers=headers, timeout=30
    )
    assert response.status_code == 201, response.text
    bad = {"ticket_data": {**ticket, "ticket_id": "FUZZ-3", "priority": "critical"}}
    reason = "validation: priority: Must be one of: low, medium, high, urgent."
    publisher.dead_letter(
        contracts.RECEIVE_TICKET.queue, reason, {"task": contracts.RECEIVE_TICKET.task, "kwargs": bad, "retries": 0}
    )
    from workflow_api.services.dead_letters import dead_letters_drain
    from workflow_api.services.integration_errors import record_integration_error

    record_integration_error(source=contracts.RECEIVE_TICKET.queue, kwargs=bad, reason=reason, retries=0)
    assert dead_letters_drain() == 1
    from auth_service.models import User
    from notification_service.services.inapp import NotificationDraft, create_notifications

    create_notifications(
        drafts=[
            NotificationDraft(
                user_id=user.pk, notification_type="task_assignment", subject="New task", message="FUZZ-1"
            )
            for user in User.objects.filter(username__in=["admin", "agent1"])
        ]
    )


def fuzz(server: ServerProcess, token: str, *extra: str) -> str:
    """README's command (bounded: ``-n`` examples per operation) against this server: its report if it failed."""
    command = [
        SCHEMATHESIS, "run", f"{server.url}/api/schema/", "-H", f"Authorization: Bearer {token}",
        "--checks", CHECKS, "--max-failures", "50", "--workers", "2", "--seed", SEED, *extra,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    return "" if result.returncode == 0 else result.stdout[-20000:] + result.stderr[-5000:]


@pytest.fixture
def login_counters_cleared() -> Iterator[None]:
    """The fuzzer's wrong passwords lock 127.0.0.1 out of logging in (counted in the shared cache): not for others."""
    cache.clear()
    yield
    cache.clear()


def test_fuzzing_the_api_finds_no_server_error_and_no_schema_violation(
    asgi_server: Callable[[], ServerProcess],
    celery_worker: Callable[..., WorkerProcess],
    monkeypatch: pytest.MonkeyPatch,
    login_counters_cleared: None,
    broker: Connection,  # the queues empty at the start: the seeded dead letter is the only one to drain
) -> None:
    # Production settings, the defaults: with DEBUG on, Django answers unknown URLs and crashes with HTML debug pages.
    monkeypatch.delenv("DEBUG", raising=False)
    call_command("seed_demo", stdout=io.StringIO())
    server = asgi_server()
    celery_worker(queues=contracts.SERVICE_QUEUES["messaging_service"], concurrency=1)
    admin = login(server, "admin", "admin-demo-pass")
    agent = login(server, "agent1", "demo-pass-123")  # before the fuzzer's wrong passwords lock logins out
    seed(server, admin)

    as_admin = fuzz(server, admin, "--phases", "coverage,fuzzing", "-n", "10")
    as_agent = fuzz(server, agent, "--phases", "fuzzing", "-n", "5")
    assert not as_admin, as_admin
    assert not as_agent, as_agent
