"""/metrics over real HTTP: the service key, live queue figures from the broker, request and worker counters summed
across processes, and circuit breakers."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from circuitbreaker import CircuitBreaker
from django.core.cache import cache
from django.utils import timezone
from kombu import Connection

from tests.conftest import wait_for
from tts_common import contracts
from tts_common.base import metrics
from tts_common.messaging import live_metrics, outbox
from tts_common.models import OutboxMessage
from workflow_api.models import DeadLetter

from .conftest import SERVICE_KEY, parse_samples, sample, scrape

ROLE_QUEUE = contracts.ROLE_SEND.queue


def _put(conn: Connection, queue: str, count: int) -> None:
    declared = contracts.declared_queue(queue)
    with conn.Producer() as producer:
        for n in range(count):
            producer.publish({"n": n}, exchange=declared.exchange, routing_key=queue, declare=[declared])


def test_metrics_need_the_service_key(asgi_server: Callable[[], Any], monkeypatch: pytest.MonkeyPatch) -> None:
    server = asgi_server()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {SERVICE_KEY}"}):
        response = requests.get(f"{server.url}/metrics", headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.json() == {"status": 401, "code": "not_authenticated", "detail": "A service API key is required."}
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    response = requests.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {SERVICE_KEY}"}, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")

    monkeypatch.delenv("SERVICE_API_KEY")  # unset: the endpoint answers no one, whatever is sent
    unkeyed = asgi_server()
    response = requests.get(f"{unkeyed.url}/metrics", headers={"Authorization": "Bearer "}, timeout=10)
    assert response.status_code == 403
    assert response.json()["code"] == "service_key_unset"


def test_queue_depth_and_consumers_come_from_the_broker(asgi_server: Callable[[], Any], broker: Connection) -> None:
    _put(broker, ROLE_QUEUE, 5)
    _put(broker, contracts.TICKET_DLQ, 2)
    server = asgi_server()

    samples = scrape(server.url)
    assert sample(samples, "tts_queue_messages", queue=ROLE_QUEUE) == 5
    assert sample(samples, "tts_queue_messages", queue=contracts.TICKET_DLQ) == 2
    assert sample(samples, "tts_queue_consumers", queue=ROLE_QUEUE) == 0
    for queue in live_metrics.MONITORED_QUEUES:
        assert sample(samples, "tts_queue_messages", queue=queue) is not None, queue
    assert sample(samples, "tts_metrics_source_up", source="broker") == 1
    # Each owner's figures, registered by its app: tts_common's outbox, the services' tables.
    for source in ("outbox", "workflow_api", "business", "notification_service"):
        assert sample(samples, "tts_metrics_source_up", source=source) == 1, source
    assert sample(samples, "tts_tasks_created_total") == 0
    assert sample(samples, "tts_email_deliveries", status="failed") == 0
    assert sample(samples, "tts_email_digests", status="failed") == 0
    assert sample(samples, "tts_dead_letters", status="pending") == 0

    # A consumer attached (holding one message unacknowledged) and more messages: seen once the cache expires.
    _put(broker, ROLE_QUEUE, 3)
    with broker.channel() as channel:
        channel.basic_qos(0, 1, False)
        contracts.declared_queue(ROLE_QUEUE)(channel).consume(callback=lambda *_: None)
        wait_for(
            lambda: (s := scrape(server.url))
            and (sample(s, "tts_queue_messages", queue=ROLE_QUEUE), sample(s, "tts_queue_consumers", queue=ROLE_QUEUE))
            == (7, 1),
            timeout=15,
            message="7 ready messages and one consumer",
        )


def test_requests_are_counted_by_route_template(asgi_server: Callable[[], Any]) -> None:
    server = asgi_server()
    for task_id in ("00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"):
        assert requests.get(f"{server.url}/tasks/{task_id}/", timeout=10).status_code == 401
    requests.get(f"{server.url}/no/such/page/{task_id}", timeout=10)

    samples = scrape(server.url)
    count = "tts_http_request_duration_seconds_count"
    assert sample(samples, count, route="/tasks/<uuid:task_id>/", method="GET", status="401") == 2
    assert sample(samples, count, route="unmatched", method="GET", status="404") == 1
    assert not any(task_id in str(labels) for _, labels in samples)


@pytest.mark.django_db
def test_open_circuit_breakers_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process (the scrape syncs this process's breakers): a registered breaker, tripped."""
    monkeypatch.setattr(metrics, "_registered_circuits", {})
    breaker = CircuitBreaker(failure_threshold=2, recovery_timeout=60, name="test-bms")
    metrics.register_circuit("bms", breaker)
    samples = parse_samples(metrics.exposition().decode())
    assert sample(samples, "tts_circuit_open", integration="bms") == 0

    def failing() -> None:
        raise ConnectionError("BMS is down")

    for _ in range(2):
        with pytest.raises(ConnectionError):
            breaker.call(failing)
    samples = parse_samples(metrics.exposition().decode())
    assert sample(samples, "tts_circuit_open", integration="bms") == 1
    assert sample(samples, "tts_circuit_failures", integration="bms") == 2


@pytest.mark.django_db
def test_dead_letters_are_counted_by_status_from_their_table() -> None:
    """The drain job empties the DLQ within seconds: letters awaiting an admin are read from the table."""
    now = timezone.now()
    for key, status in (("a", "pending"), ("b", "pending"), ("c", "discarded")):
        DeadLetter.objects.create(message_key=key, status=status, received_at=now)
    cache.delete("metrics:workflow_api")  # a reading of the previous few seconds may be cached
    samples = parse_samples(metrics.exposition().decode())
    assert sample(samples, "tts_dead_letters", status="pending") == 2
    assert sample(samples, "tts_dead_letters", status="discarded") == 1
    assert sample(samples, "tts_dead_letters", status="reprocessed") == 0


@pytest.mark.django_db
def test_the_outbox_backlog_and_its_oldest_age_are_reported() -> None:
    cache.delete("metrics:outbox")
    samples = parse_samples(metrics.exposition().decode())
    assert sample(samples, "tts_outbox_messages") == 0 and sample(samples, "tts_outbox_oldest_age_seconds") == 0

    # The test's transaction never commits: the rows wait as they would for the relay.
    outbox.publish([outbox.Message(contracts.TICKET_STATUS, args=("T", status)) for status in ("a", "b")])
    OutboxMessage.objects.filter(pk=OutboxMessage.objects.order_by("position")[0].pk).update(
        created_at=timezone.now() - timezone.timedelta(seconds=90)
    )
    cache.delete("metrics:outbox")
    samples = parse_samples(metrics.exposition().decode())
    assert sample(samples, "tts_outbox_messages") == 2 and 80 < sample(samples, "tts_outbox_oldest_age_seconds") < 120


@pytest.mark.django_db
def test_business_figures_come_from_the_tasks_and_the_report_rollups(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta

    from tests.workflow_api.factories import ingested_task, two_step_setup
    from workflow_api.services.reports import fold_report_deltas
    from workflow_api.services.sla import sla_scan

    two_step_setup()
    now = timezone.now()
    ingested_task("M-1", created_at=(now - timedelta(days=3)).isoformat())  # "high" here: 24 h SLA, 48 h past it
    ingested_task("M-2")
    fold_report_deltas()
    sla_scan()  # breaches M-1 (a delta not folded yet: counted too) and escalates it to a coordinator
    cache.delete("metrics:business")
    samples = parse_samples(metrics.exposition().decode())
    assert sample(samples, "tts_open_tasks", role="Agent") == 2  # by their step's role (M-1's holder is a coordinator now)
    assert sample(samples, "tts_open_tasks_past_deadline") == 1
    assert 48 * 3600 - 60 < sample(samples, "tts_most_overdue_open_task_seconds") < 48 * 3600 + 60
    assert sample(samples, "tts_oldest_open_task_age_seconds") < 60  # made just now (the ticket's own date is older)
    assert (sample(samples, "tts_sla_breaches_total"), sample(samples, "tts_sla_warnings_total")) == (1, 0)
