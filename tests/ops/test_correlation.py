"""One correlation id from HTTP intake through the queue into the worker's logs, and the worker's counters reaching
/metrics from its own processes."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from kombu import Connection

from tests.conftest import wait_for
from tts_common import contracts
from tts_common.base.logging import CORRELATION_HEADER, bound_correlation_id
from tts_common.messaging import outbox

from .conftest import sample, scrape

TICKET = {
    "ticket_id": "OPS-CORRELATION-1",
    "title": "VPN drops every hour",
    "category": "IT Support",
    "sub_category": "Network",
    "priority": "high",
}


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON log lines of a process's output (Celery's banner and the like are not JSON)."""
    lines = []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def test_request_id_follows_the_ticket_into_the_worker_logs_and_metrics(
    asgi_server: Callable[[], Any], celery_worker: Callable[..., Any], make_token: Callable[..., str]
) -> None:
    server = asgi_server()
    worker = celery_worker(queues=contracts.SERVICE_QUEUES["workflow_api"])
    headers = {"Authorization": f"Bearer {make_token(roles={'HDTS': ['Integration']})}", "X-Request-ID": "abc"}

    response = requests.post(f"{server.url}/api/tickets/", json=TICKET, headers=headers, timeout=30)
    assert response.status_code == 201, response.text
    assert response.headers["X-Request-ID"] == "abc"

    def consumed() -> list[dict[str, Any]]:
        return [
            line
            for line in json_lines(worker.log())
            if line.get("operation") == contracts.RECEIVE_TICKET.task and line.get("message") == "batch consumed"
        ]

    # Intake publishes the ticket alone, so its batch is its own: the line carries its id both ways.
    lines = wait_for(consumed, timeout=60, message="the ticket consumed")
    assert [(line["correlation_id"], line["correlation_ids"]) for line in lines] == [("abc", ["abc"])]
    intake = [line for line in json_lines(server.log_path.read_text()) if line.get("path") == "/api/tickets/"]
    assert [line["correlation_id"] for line in intake] == ["abc"]

    # A one-message consumer (QueueConsumer) reads the same header.
    role = {"role_id": 9001, "system": "TTS", "name": "Ops Role", "permissions": [], "is_active": True, "version": 1}
    with bound_correlation_id("role-sync-1"):
        outbox.publish_one(contracts.ROLE_SEND, role_data=role)
    role_lines = wait_for(
        lambda: [
            line
            for line in json_lines(worker.log())
            if line.get("operation") == contracts.ROLE_SEND.task and line.get("message") == "consumed"
        ],
        timeout=30,
    )
    assert [line["correlation_id"] for line in role_lines] == ["role-sync-1"]

    # Counted in a pool process of the worker, read by the web process through the shared multiprocess folder.
    succeeded = dict(task=contracts.RECEIVE_TICKET.task, queue=contracts.RECEIVE_TICKET.queue, outcome="succeeded")
    wait_for(lambda: sample(scrape(server.url), "tts_messages_consumed_total", **succeeded) == 1, timeout=15)


def test_a_client_request_id_that_is_not_an_id_is_replaced(asgi_server: Callable[[], Any]) -> None:
    server = asgi_server()
    response = requests.get(f"{server.url}/health/live", headers={"X-Request-ID": "a b\"}"}, timeout=10)
    assert response.headers["X-Request-ID"] != "a b\"}"
    assert len(response.headers["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_the_outbox_sends_the_id_of_its_caller(broker: Connection, django_capture_on_commit_callbacks) -> None:
    # At commit time another id is current (say, the outermost block's): the message keeps its caller's.
    with bound_correlation_id("at-commit"), django_capture_on_commit_callbacks(execute=True):
        with bound_correlation_id("caller"):
            outbox.publish_one(contracts.ROLE_SEND, role_data={})
    message = contracts.declared_queue(contracts.ROLE_SEND.queue)(broker.default_channel).get(no_ack=True)
    assert message.headers[CORRELATION_HEADER] == "caller"
