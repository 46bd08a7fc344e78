"""One correlation id from HTTP intake through the queue into the worker's logs, and the worker's counters reaching
/metrics from its own processes."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import requests

from tests.conftest import wait_for
from tts_common import contracts

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
            if line.get("message") == "consumed" and line.get("operation") == contracts.RECEIVE_TICKET.task
        ]

    lines = wait_for(consumed, timeout=60, message="the ticket consumed")
    assert [line["correlation_id"] for line in lines] == ["abc"]
    intake = [line for line in json_lines(server.log_path.read_text()) if line.get("path") == "/api/tickets/"]
    assert [line["correlation_id"] for line in intake] == ["abc"]

    # Counted in a pool process of the worker, read by the web process through the shared multiprocess folder.
    succeeded = dict(task=contracts.RECEIVE_TICKET.task, queue=contracts.RECEIVE_TICKET.queue, outcome="succeeded")
    wait_for(lambda: sample(scrape(server.url), "tts_messages_consumed_total", **succeeded) == 1, timeout=15)


def test_a_client_request_id_that_is_not_an_id_is_replaced(asgi_server: Callable[[], Any]) -> None:
    server = asgi_server()
    response = requests.get(f"{server.url}/health/live", headers={"X-Request-ID": "a b\"}"}, timeout=10)
    assert response.headers["X-Request-ID"] != "a b\"}"
    assert len(response.headers["X-Request-ID"]) == 32
