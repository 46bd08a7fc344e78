"""PostgreSQL stopped for 10 s while tickets arrive (issue 6): a private cluster and broker (see conftest), a real
worker and a real ASGI server pointed at them."""
from __future__ import annotations

import time
from contextlib import closing
from typing import Any

import pytest
import requests
from django import db
from kombu import Connection

from tests.chaos.test_broker_restart import publish_as_hdts
from tests.conftest import ServerProcess, free_port, queue_depth, wait_for
from tests.workflow_api.test_ingestion_queue import SECRET, signed, ticket
from tts_common import contracts
from tts_common.messaging.worker import database_unavailable
from workflow_api.models import Assignment, Task

pytestmark = pytest.mark.slow

OUTAGE_SECONDS = 10
SEED_WORKFLOW = """
from tests.workflow_api.factories import deployed_workflow, role_with_users
agents, _ = role_with_users(3, name="Agents")
deployed_workflow(step_roles=[agents], coordinator_role=agents, category="IT Support", sub_category="Network")
"""


def readiness(server: ServerProcess) -> tuple[int, dict[str, Any]]:
    response = requests.get(f"{server.url}/health/ready", timeout=10)
    return response.status_code, response.json()


def test_database_stopped_for_10s_then_every_ticket_lands_once(private_postgres, private_broker, celery_worker, asgi_server):
    private_postgres.manage("shell", "-c", SEED_WORKFLOW)
    env = {"DATABASE_URL": private_postgres.url, "CELERY_BROKER_URL": private_broker.url, "HDTS_SIGNING_SECRET": SECRET}
    worker = celery_worker(queues=(contracts.RECEIVE_TICKET.queue,), concurrency=2, env=env)
    server = asgi_server(env=env)
    assert readiness(server)[0] == 200

    def stored() -> tuple[int, int, int]:
        """(tasks, distinct tickets among them, open assignments) in the private database."""
        with closing(private_postgres.connect()) as conn, conn.cursor() as cursor:
            cursor.execute(f"SELECT count(*), count(DISTINCT external_ticket_id) FROM {Task._meta.db_table}")
            tasks, tickets = cursor.fetchone()
            cursor.execute(f"SELECT count(*) FROM {Assignment._meta.db_table} WHERE ended_at IS NULL")
            return tasks, tickets, cursor.fetchone()[0]

    tickets = [signed(ticket(f"T-{i}")) for i in range(600)]
    publish_as_hdts(private_broker.url, tickets[:300])  # still being ingested when the database goes
    private_postgres.stop()
    stopped_at = time.monotonic()
    publish_as_hdts(private_broker.url, tickets[300:])  # arrive during the outage

    status, body = wait_for(lambda: (result := readiness(server))[0] == 503 and result, timeout=5, message="503")
    assert body["failed"] == ["database"] and body["checks"]["database"]["status"] == "error"
    wait_for(lambda: "database unavailable" in worker.log(), timeout=5, message="the worker rescheduling ingestion")
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped_at)))
    assert readiness(server)[0] == 503
    private_postgres.start()

    wait_for(lambda: readiness(server)[0] == 200, timeout=15, message="ready again")
    wait_for(lambda: stored()[0] >= 600, timeout=60, message="600 tasks after the outage")
    with Connection(private_broker.url) as conn:
        wait_for(lambda: queue_depth(conn, contracts.RECEIVE_TICKET.queue) == 0, timeout=30, message="intake drained")
        assert queue_depth(conn, contracts.TICKET_DLQ) == 0
    assert stored() == (600, 600, 600)
    # Rescheduled for the outage, not retried: no ticket used up any of its retries (DESIGN §2: 3, then the DLQ).
    assert '"message": "retrying"' not in worker.log()


@pytest.mark.django_db(transaction=True)  # outside an atomic block, as a consumer is when its batch failed
def test_only_an_unreachable_database_counts_as_an_outage(monkeypatch):
    # A failing statement on a reachable database is the message's failure: it keeps DESIGN's retries.
    assert not database_unavailable(db.OperationalError("deadlock detected"))
    assert not database_unavailable(ValueError("not a database error"))
    # Nothing listens on the port: no new connection can be made.
    monkeypatch.setitem(db.connection.settings_dict, "PORT", str(free_port()))
    try:
        assert database_unavailable(db.OperationalError("server closed the connection unexpectedly"))
    finally:
        monkeypatch.undo()
        db.connection.close()
