"""Ticket intake end to end on the real stack: HDTS-style publishing to RabbitMQ, real worker processes, PostgreSQL."""
from __future__ import annotations

import json
import math
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db.models import Count
from kombu import Connection

from tests.conftest import WorkerProcess, queue_depth, wait_for
from tests.workflow_api.factories import deployed_workflow, role_with_users
from tests.workflow_api.publishing import hdts  # noqa: F401 (fixture)
from tts_common import contracts
from tts_common.base import signing
from workflow_api.models import Assignment, IntegrationError, RoleReplica, Task, UserRole, Workflow

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "hdts-test-secret"


# --- HDTS tickets (published by the hdts fixture of tests/workflow_api/publishing.py) ------------------------------
def ticket(ticket_id: str, sub_category: str = "Network", **fields: Any) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
        "title": f"Ticket {ticket_id}",
        "category": "IT Support",
        "sub_category": sub_category,
        "priority": random.choice(["low", "medium", "high", "urgent"]),
        "requester_email": "someone@example.com",
        **fields,
    }


def signed(data: Any, secret: str = SECRET) -> dict[str, Any]:
    signed_at = int(time.time())
    return {"ticket_data": data, "signature": signing.sign(secret, signed_at, data), "signed_at": signed_at}


@pytest.fixture
def start_engine(monkeypatch, request) -> Callable[..., list[WorkerProcess]]:
    """``start_engine(workers, concurrency)``: ticket workers configured as in production (signing on, and a
    prefetch that lets a batch fill: multiplier × concurrency above the consumer's flush_every)."""
    monkeypatch.setenv("HDTS_SIGNING_SECRET", SECRET)
    monkeypatch.setenv("CELERY_PREFETCH_MULTIPLIER", "256")
    start_worker = request.getfixturevalue("celery_worker")  # after setenv: the workers inherit the environment

    def start(workers: int = 1, concurrency: int = 2) -> list[WorkerProcess]:
        return [start_worker(queues=(contracts.RECEIVE_TICKET.queue,), concurrency=concurrency) for _ in range(workers)]

    return start


@pytest.fixture
def broker_conn(request) -> Connection:
    return request.getfixturevalue("broker")


@pytest.fixture
def seeded() -> dict[str, Workflow]:
    """Two deployed workflows with different first-step roles and a shared coordinator role."""
    coordinators, _ = role_with_users(2, name="Coordinators")
    agents, _ = role_with_users(3, name="Agents")
    engineers, _ = role_with_users(4, name="Engineers")
    return {
        "Network": deployed_workflow(
            step_roles=[agents, engineers], coordinator_role=coordinators, category="IT Support", sub_category="Network"
        ),
        "Hardware": deployed_workflow(
            step_roles=[engineers, agents], coordinator_role=coordinators, category="IT Support", sub_category="Hardware"
        ),
    }


def tasks_count(expected: int) -> Callable[[], bool]:
    return lambda: Task.objects.count() >= expected and Assignment.objects.count() >= expected


def assert_fair_and_unique(expected: int) -> None:
    """Exactly ``expected`` tasks, each assigned once, and per role the users' counts differ by at most 1."""
    assert Task.objects.count() == expected
    assert Assignment.objects.count() == expected
    assert not Assignment.objects.values("task").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert not Task.objects.filter(assigned_user__isnull=True).exists()
    for role in RoleReplica.objects.all():
        members = UserRole.objects.filter(role=role).values_list("user_id", flat=True)
        assigned = Counter(Assignment.objects.filter(role=role).values_list("user_id", flat=True))
        owned = Counter(Task.objects.filter(owner__roles__role=role, workflow__coordinator_role=role).values_list("owner_id", flat=True))
        for counts in (assigned, owned):
            if counts:
                per_user = [counts[user_id] for user_id in members]
                assert max(per_user) - min(per_user) <= 1, (role.name, per_user)


# --- Tests -----------------------------------------------------------------------------------------------------
def test_500_tickets_become_500_fairly_assigned_tasks_queue_declared_by_the_producer(seeded, hdts, broker_conn, start_engine):  # noqa: F811
    # HDTS publishes first, declaring the queue itself; our worker then consumes it without a conflict.
    broker_conn.default_channel.queue_delete(contracts.RECEIVE_TICKET.queue)
    hdts(signed(ticket(f"T-{i}", sub_category=random.choice(list(seeded)))) for i in range(500))
    start_engine(workers=1, concurrency=2)
    wait_for(tasks_count(500), timeout=60, message="500 tasks")
    assert_fair_and_unique(500)
    # Published after each batch commits, so they may trail the tasks a little on a loaded machine.
    wait_for(
        lambda: queue_depth(broker_conn, contracts.ASSIGNMENT_NOTIFICATION.queue) >= 500, timeout=30, message="500 notifications"
    )
    assert queue_depth(broker_conn, contracts.ASSIGNMENT_NOTIFICATION.queue) == 500


def test_four_concurrent_consumers_assign_fairly_and_once(seeded, hdts, broker_conn, start_engine):  # noqa: F811
    start_engine(workers=2, concurrency=2)
    hdts(signed(ticket(f"T-{i}", sub_category=random.choice(list(seeded)))) for i in range(500))
    wait_for(tasks_count(500), timeout=60, message="500 tasks")
    assert_fair_and_unique(500)


def test_each_ticket_sent_three_times_makes_one_task_and_one_notification(seeded, hdts, broker_conn, start_engine):  # noqa: F811
    messages = [signed(ticket(f"T-{i}")) for i in range(200)] * 3
    random.shuffle(messages)
    start_engine(workers=2, concurrency=1)
    hdts(messages)
    wait_for(lambda: queue_depth(broker_conn, contracts.RECEIVE_TICKET.queue) == 0 and tasks_count(200)(), timeout=60)
    wait_for(
        lambda: queue_depth(broker_conn, contracts.ASSIGNMENT_NOTIFICATION.queue) >= 200, timeout=30, message="notifications"
    )
    time.sleep(1)  # let any straggling duplicate batch commit and publish, if it were to
    assert_fair_and_unique(200)
    assert queue_depth(broker_conn, contracts.ASSIGNMENT_NOTIFICATION.queue) == 200


def test_invalid_and_badly_signed_tickets_are_dead_lettered_with_reasons(seeded, hdts, broker_conn, start_engine):  # noqa: F811
    no_title = {k: v for k, v in ticket("BAD-1").items() if k != "title"}
    bad = [
        ("validation", signed(no_title), "title: This field is required."),
        ("validation", signed(ticket("BAD-2", priority="critical")), "priority: Must be one of"),
        ("validation", signed("not a ticket"), "Must be an object"),
        ("signature", {"ticket_data": ticket("BAD-3")}, "signature missing"),
        ("signature", signed(ticket("BAD-4"), secret="wrong"), "does not match"),
    ]
    start_engine()
    hdts([signed(ticket("GOOD-1")), *(kwargs for _, kwargs, _ in bad), signed(ticket("GOOD-2"))])
    wait_for(lambda: queue_depth(broker_conn, contracts.TICKET_DLQ) == len(bad), timeout=30, message="dead letters")
    wait_for(tasks_count(2), timeout=10)
    assert set(Task.objects.values_list("external_ticket_id", flat=True)) == {"GOOD-1", "GOOD-2"}

    dlq = contracts.declared_queue(contracts.TICKET_DLQ)(broker_conn.default_channel)
    letters = []
    while (message := dlq.get(no_ack=True)) is not None:
        letters.append(message.payload)
    assert len(letters) == len(bad)
    for category, kwargs, reason in bad:
        [letter] = [dead for dead in letters if dead["message"]["kwargs"] == kwargs]
        assert letter["reason"].startswith(f"{category}: ") and reason in letter["reason"]
        assert letter["source_queue"] == contracts.RECEIVE_TICKET.queue
    wait_for(lambda: IntegrationError.objects.count() == len(bad), timeout=10)
    assert Counter(IntegrationError.objects.values_list("category", flat=True)) == {"validation": 3, "signature": 2}
    assert set(IntegrationError.objects.values_list("status", flat=True)) == {IntegrationError.Status.PENDING}
    assert IntegrationError.objects.get(ticket_id="BAD-4").payload == bad[4][1]


def test_undecodable_messages_are_dead_lettered_and_their_neighbours_ingested(seeded, hdts, broker_conn, start_engine):  # noqa: F811
    """Bodies that are not JSON, or in a content type the worker does not accept (pickle), and a message naming
    another task, published as any Celery client would: Celery's own consumer would drop them; here they reach the
    DLQ with a reason."""
    kwargs = signed(ticket("WRONG-TASK"))
    refused = [
        (b'{"ticket_data": ', "application/json", contracts.RECEIVE_TICKET.task),
        (b"\x80\x04K\x01.", "application/x-python-serialize", contracts.RECEIVE_TICKET.task),
        (json.dumps([[], kwargs, {}]).encode(), "application/json", "tickets.tasks.no_such_task"),
    ]
    start_engine()
    hdts([signed(ticket("GOOD-1"))])
    with broker_conn.Producer() as producer:
        for body, content_type, task in refused:
            producer.publish(
                body, routing_key=contracts.RECEIVE_TICKET.queue, content_type=content_type, content_encoding="binary",
                headers={"task": task, "id": str(uuid.uuid4())},
            )  # fmt: skip
    hdts([signed(ticket("GOOD-2"))])
    wait_for(lambda: queue_depth(broker_conn, contracts.TICKET_DLQ) == len(refused), timeout=30)
    wait_for(tasks_count(2), timeout=10)
    assert set(Task.objects.values_list("external_ticket_id", flat=True)) == {"GOOD-1", "GOOD-2"}
    dlq = contracts.declared_queue(contracts.TICKET_DLQ)(broker_conn.default_channel)
    reasons = sorted(dlq.get(no_ack=True).payload["reason"] for _ in refused)
    assert reasons[0] == "validation: the message names no task of this queue ('tickets.tasks.no_such_task')"
    assert reasons[1].startswith("validation: undecodable message (ContentDisallowed")
    assert reasons[2].startswith("validation: undecodable message (DecodeError")
    wait_for(lambda: IntegrationError.objects.count() == len(refused), timeout=10)
    assert set(IntegrationError.objects.values_list("category", flat=True)) == {"validation"}
    assert IntegrationError.objects.filter(payload={"body": '{"ticket_data": '}).exists()
    assert IntegrationError.objects.get(ticket_id="WRONG-TASK").payload == kwargs


def test_hostile_json_and_signing_times_are_dead_lettered_and_the_worker_keeps_ingesting(seeded, hdts, broker_conn, start_engine):  # noqa: F811
    """JSON nested 100k deep (the parser's RecursionError) or 500 deep (parses, but breaks whatever walks it later),
    NaN (Python's JSON, not JSON; PostgreSQL refuses it), and signing times that are no finite time, signed
    correctly: each becomes a dead letter and an integration error with its reason, and the tickets around them
    become tasks."""

    def signed_at(data: dict[str, Any], when: str) -> dict[str, Any]:
        return {"ticket_data": data, "signature": signing.sign(SECRET, when, data), "signed_at": when}

    not_a_time = {"NAN-1": "nan", "INF-1": "inf", "NINF-1": "-inf", "HUGE-1": "1e999"}
    start_engine()
    hdts([signed(ticket("GOOD-1")), *(signed_at(ticket(tid), when) for tid, when in not_a_time.items())])
    hdts([signed(ticket("DEEP-500", extra=json.loads("[" * 500 + "]" * 500))), signed(ticket("NAN-2", extra=math.nan))])
    with broker_conn.Producer() as producer:
        producer.publish(
            b'[[], {"ticket_data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}, {}]",
            routing_key=contracts.RECEIVE_TICKET.queue, content_type="application/json", content_encoding="utf-8",
            headers={"task": contracts.RECEIVE_TICKET.task, "id": str(uuid.uuid4())},
        )  # fmt: skip
    hdts([signed(ticket("GOOD-2"))])
    wait_for(lambda: queue_depth(broker_conn, contracts.TICKET_DLQ) == 7, timeout=30, message="dead letters")
    wait_for(tasks_count(2), timeout=10)
    assert set(Task.objects.values_list("external_ticket_id", flat=True)) == {"GOOD-1", "GOOD-2"}

    dlq = contracts.declared_queue(contracts.TICKET_DLQ)(broker_conn.default_channel)
    letters = [dlq.get(no_ack=True).payload for _ in range(7)]
    signed_at_reasons = {
        letter["message"]["kwargs"]["ticket_data"]["ticket_id"]: letter["reason"]
        for letter in letters
        if "ticket_data" in letter["message"]["kwargs"]
    }
    assert signed_at_reasons == {
        tid: f"signature: signed_at {when!r} is not a finite time" for tid, when in not_a_time.items()
    }
    undecodable = sorted(letter["reason"] for letter in letters if "body" in letter["message"]["kwargs"])
    assert undecodable == [
        "validation: undecodable message (DecodeError: maximum recursion depth exceeded while decoding a JSON array "
        "from a unicode string)",
        "validation: undecodable message (JSONTooDeep: JSON nested deeper than 64 levels)",
        "validation: undecodable message (NonFiniteNumber: NaN and Infinity are not JSON numbers)",
    ]
    wait_for(lambda: IntegrationError.objects.count() == 7, timeout=10, message="integration errors")
    hdts([signed(ticket("GOOD-3"))])  # the worker is alive and still ingests
    wait_for(tasks_count(3), timeout=30, message="a ticket after the hostile ones")


def test_worker_killed_mid_stream_loses_and_duplicates_nothing(seeded, hdts, broker_conn, start_engine):  # noqa: F811
    tickets = [signed(ticket(f"T-{i}", sub_category=random.choice(list(seeded)))) for i in range(1000)]
    [first] = start_engine(concurrency=2)
    hdts(tickets[:500])
    wait_for(lambda: Task.objects.count() >= 150, timeout=30, interval=0.005)
    first.kill()
    at_kill = Task.objects.count()
    hdts(tickets[500:])
    assert at_kill < 1000
    start_engine(concurrency=2)
    wait_for(tasks_count(1000), timeout=60, message="1000 tasks after the crash")
    assert_fair_and_unique(1000)
