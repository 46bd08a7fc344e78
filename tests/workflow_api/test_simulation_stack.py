"""Done-when of the routing simulator, on the real stack: the answer for 50 varied tickets, asked of the real ASGI
server, is what a real worker then does with the same tickets published as HDTS does, in the same order."""
from __future__ import annotations

import requests

from tests.conftest import queue_depth, wait_for
from tests.workflow_api.simulation_scenario import assert_prediction_is_what_happened, build_scenario, scenario_tickets
from tests.workflow_api.test_ingestion_queue import broker_conn, hdts, signed, start_engine  # noqa: F401 (fixtures)
from tts_common import contracts
from workflow_api.models import AssignmentDecision, RoundRobinCursor, Task, UnroutedTicket


def test_fifty_simulated_tickets_are_ingested_as_predicted(hdts, broker_conn, start_engine, asgi_server, make_token):  # noqa: F811
    build_scenario()
    tickets = scenario_tickets(50)
    server = asgi_server()
    cursors = list(RoundRobinCursor.objects.order_by("role_id").values_list())
    depths = {name: queue_depth(broker_conn, name) for name in contracts.ALL_CONSUMED_QUEUES}
    response = requests.post(
        f"{server.url}/simulate/",
        json={"tickets": tickets},
        headers={"Authorization": f"Bearer {make_token(is_admin=True)}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert list(RoundRobinCursor.objects.order_by("role_id").values_list()) == cursors
    assert {name: queue_depth(broker_conn, name) for name in contracts.ALL_CONSUMED_QUEUES} == depths  # nothing sent

    # ONE worker process with concurrency 1: its batches (celery-batches) hold messages in delivery order and are
    # processed one after another, so ingestion order is publish order (checked below through the pick sequence).
    start_engine(workers=1, concurrency=1)
    hdts(signed(data) for data in tickets)
    expected = {"task": 0, "dead_letter": 0, "unrouted": 0}
    for result in results:
        expected[result["outcome"]] = expected.get(result["outcome"], 0) + 1
    assert min(expected.values()) > 0 and expected["duplicate"] == 2
    wait_for(
        lambda: Task.objects.filter(external_ticket_id__in=[r["ticket_id"] for r in results if r["outcome"] == "task"]).count()
        == expected["task"]
        and UnroutedTicket.objects.count() == expected["unrouted"]
        and queue_depth(broker_conn, contracts.TICKET_DLQ) == expected["dead_letter"],
        timeout=60,
        message="every ticket ingested or dead-lettered",
    )
    dlq = contracts.declared_queue(contracts.TICKET_DLQ)(broker_conn.default_channel)
    dead_letters = {}
    while (message := dlq.get(no_ack=True)) is not None:
        dead_letters[message.payload["message"]["kwargs"]["ticket_data"]["ticket_id"]] = message.payload["reason"]
    assert_prediction_is_what_happened(results, dead_letters)

    # Publish order = ingestion order: each role's picks were made in ticket order.
    order = {r["ticket_id"]: r["index"] for r in results if r["outcome"] == "task"}
    decisions = AssignmentDecision.objects.filter(task__external_ticket_id__in=order).values_list(
        "role_id", "sequence", "task__external_ticket_id"
    )
    for role_id in {role_id for role_id, _, _ in decisions}:
        chain = sorted((sequence, order[ticket_id]) for r, sequence, ticket_id in decisions if r == role_id)
        assert [index for _, index in chain] == sorted(index for _, index in chain)
