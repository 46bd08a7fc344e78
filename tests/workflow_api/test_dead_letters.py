"""Dead letters (queue → table, idempotent; reprocess, discard; API and command), integration-error triage,
unrouted tickets, and the whole path on the real stack: an invalid HDTS ticket → DLQ → API → corrected → a task."""
from __future__ import annotations

import json
import math
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
import requests
from django.core.management import CommandError, call_command
from django.utils import timezone
from kombu import Connection, Producer

from tests.conftest import outside_celery_app, queue_depth, wait_for
from tests.workflow_api.factories import UserFactory, access_token, api_client, two_step_setup
from tests.workflow_api.scheduling import celery_beat  # noqa: F401 (fixture)
from tts_common import contracts
from tts_common.messaging import publisher
from workflow_api.models import AuditEvent, DeadLetter, IntegrationError, Task, UnroutedTicket
from workflow_api.services.dead_letters import dead_letters_drain
from workflow_api.services.integration_errors import record_integration_error

pytestmark = pytest.mark.django_db

SOURCE = contracts.RECEIVE_TICKET.queue


def ticket(ticket_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id, "title": f"Ticket {ticket_id}", "category": "IT Support", "sub_category": "Network",
        "priority": "low", **fields,
    }  # fmt: skip


def give_up(kwargs: dict[str, Any], reason: str) -> None:
    """What the ticket consumer does with a ticket that can never succeed (tts_common.messaging.worker.give_up)."""
    publisher.dead_letter(SOURCE, reason, {"task": contracts.RECEIVE_TICKET.task, "kwargs": kwargs, "retries": 0})
    record_integration_error(source=SOURCE, kwargs=kwargs, reason=reason, retries=0)


def dlq(broker: Connection):
    return contracts.declared_queue(contracts.TICKET_DLQ)(broker.default_channel)


@pytest.fixture
def letters(broker) -> list[DeadLetter]:
    """Two dead-lettered tickets (one without a title, one with a bad priority), drained into the table."""
    give_up({"ticket_data": {k: v for k, v in ticket("BAD-1").items() if k != "title"}}, "validation: title: required")
    give_up({"ticket_data": ticket("BAD-2", priority="critical")}, "validation: priority: Must be one of")
    wait_for(lambda: queue_depth(broker, contracts.TICKET_DLQ) == 2, timeout=10)
    assert dead_letters_drain() == 2
    return list(DeadLetter.objects.order_by("ticket_id"))


# --- Queue → table -------------------------------------------------------------------------------------------------
def test_drain_stores_each_message_once_linked_to_its_integration_error(broker, letters):
    first, second = letters
    assert queue_depth(broker, contracts.TICKET_DLQ) == 0  # acked once stored
    assert (first.ticket_id, first.source_queue, first.task_name) == ("BAD-1", SOURCE, contracts.RECEIVE_TICKET.task)
    assert first.reason == "validation: title: required" and first.status == DeadLetter.Status.PENDING
    assert first.kwargs["ticket_data"]["ticket_id"] == "BAD-1" and first.dead_lettered_at is not None
    assert first.integration_error.ticket_id == "BAD-1" and second.integration_error.ticket_id == "BAD-2"

    # A redelivery (same bytes) is stored once; a message that is not ours is kept as raw text.
    producer = Producer(broker.default_channel)
    body = {"reason": "x", "source_queue": SOURCE, "dead_lettered_at": None, "message": {"task": "t", "kwargs": {}}}
    for payload in (body, body, "not json at all"):
        producer.publish(
            payload, exchange=contracts.TICKET_DLQ, routing_key=contracts.TICKET_DLQ, serializer="json" if payload is body else None
        )
    wait_for(lambda: queue_depth(broker, contracts.TICKET_DLQ) == 3, timeout=10)
    assert dead_letters_drain() == 2
    assert DeadLetter.objects.count() == 4 and queue_depth(broker, contracts.TICKET_DLQ) == 0
    assert DeadLetter.objects.get(raw="not json at all").reason == "Not a dead letter TTS can read."


def test_a_message_dead_lettered_twice_under_its_id_is_stored_once(broker):
    # A redelivered message (its worker died after publishing the dead letter, before acking) is dead-lettered again
    # by the consumer under the same message id (tts_common.messaging.worker.give_up), with another timestamp in its body.
    message = {"task": contracts.RECEIVE_TICKET.task, "kwargs": {"ticket_data": ticket("TWICE-1")}, "retries": 0}
    for _ in range(2):
        publisher.dead_letter(SOURCE, "validation: title: required", message, message_id="receive_ticket:abc")
    wait_for(lambda: queue_depth(broker, contracts.TICKET_DLQ) == 2, timeout=10)
    assert dead_letters_drain() == 1
    assert DeadLetter.objects.get().ticket_id == "TWICE-1"


def test_a_celery_message_put_on_the_dlq_is_read_as_one(broker):
    hdts = outside_celery_app()
    hdts.send_task(contracts.RECEIVE_TICKET.task, kwargs={"ticket_data": ticket("MOVED-1")}, queue=contracts.TICKET_DLQ)
    wait_for(lambda: queue_depth(broker, contracts.TICKET_DLQ) == 1, timeout=10)
    dead_letters_drain()
    letter = DeadLetter.objects.get()
    assert (letter.task_name, letter.ticket_id, letter.raw) == (contracts.RECEIVE_TICKET.task, "MOVED-1", "")


def test_a_letter_holding_text_the_database_cannot_store_is_stored_with_it_replaced(broker):
    # PostgreSQL refuses NUL in text and jsonb: stored as is, this letter would fail its batch again and again.
    kwargs = {"ticket_data": ticket("NUL-1", title="a\x00b"), "x\x00": ["\x00"]}
    give_up(kwargs, "validation: title: Null characters are not allowed.")
    wait_for(lambda: queue_depth(broker, contracts.TICKET_DLQ) == 1, timeout=10)
    assert dead_letters_drain() == 1
    letter = DeadLetter.objects.get()
    assert queue_depth(broker, contracts.TICKET_DLQ) == 0
    assert letter.kwargs == {"ticket_data": ticket("NUL-1", title="a\ufffdb"), "x\ufffd": ["\ufffd"]}
    assert letter.integration_error.payload == letter.kwargs  # recorded alike, so linked


def test_a_letter_holding_nan_or_infinity_is_stored_with_their_names(broker):
    # Python's JSON writes and reads NaN and Infinity, which are not JSON and which jsonb refuses: stored as is, this
    # letter would fail the drain at every run, and its integration error would not be recorded.
    kwargs = {"ticket_data": ticket("NAN-1"), "signature": "ab", "signed_at": math.nan, "x": [math.inf, -math.inf]}
    give_up(kwargs, "signature: signed_at 'nan' is not a finite time")
    wait_for(lambda: queue_depth(broker, contracts.TICKET_DLQ) == 1, timeout=10)
    assert dead_letters_drain() == 1
    letter = DeadLetter.objects.get()
    assert queue_depth(broker, contracts.TICKET_DLQ) == 0
    assert letter.kwargs == {**kwargs, "signed_at": "nan", "x": ["inf", "-inf"]}
    assert letter.integration_error.payload == letter.kwargs


# --- API -----------------------------------------------------------------------------------------------------------
def test_list_filter_and_inspect(letters):
    admin = api_client(is_admin=True)
    body = admin.get("/dead-letters/").json()
    assert body["count"] == 2 and {row["ticket_id"] for row in body["results"]} == {"BAD-1", "BAD-2"}
    assert "kwargs" not in body["results"][0]
    assert [row["ticket_id"] for row in admin.get("/dead-letters/?ticket_id=BAD-2").json()["results"]] == ["BAD-2"]
    assert admin.get("/dead-letters/?status=discarded").json()["count"] == 0
    detail = admin.get(f"/dead-letters/{letters[0].pk}/").json()
    assert detail["kwargs"]["ticket_data"]["ticket_id"] == "BAD-1"
    assert detail["integration_error"] == letters[0].integration_error_id


def test_reprocess_with_a_corrected_ticket(letters, broker, django_capture_on_commit_callbacks):
    letter = letters[0]
    admin = api_client(is_admin=True)
    with django_capture_on_commit_callbacks(execute=True):  # the ticket leaves through the outbox once committed
        response = admin.post(f"/dead-letters/{letter.pk}/reprocess/", {"ticket": ticket("BAD-1"), "note": "title added"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "reprocessed" and response.json()["resolution_note"] == "title added"
    assert IntegrationError.objects.get(pk=letter.integration_error_id).status == IntegrationError.Status.RESOLVED
    [message] = drain_queue(broker, contracts.RECEIVE_TICKET.queue)
    assert message["ticket_data"] == ticket("BAD-1")
    assert AuditEvent.objects.get(action="dead_letter.reprocessed").data["corrected"] is True
    again = admin.post(f"/dead-letters/{letter.pk}/reprocess/", {"ticket": ticket("BAD-1")}, format="json")
    assert again.status_code == 409


def test_a_deployed_hdts_ticket_is_named_checked_as_intake_does_and_republished_as_it_is(broker, django_capture_on_commit_callbacks):
    """The deployed HDTS's ticket (tts_common.base.hdts_deployed): the letter and the error name its ticket_number; a
    correction in HDTS's own form is checked mapped (its errors in HDTS's field names) and sent as HDTS sent it."""
    deployed = {
        "ticket_number": "TX20261204000001", "subject": "Projector", "category": "Asset Check Out",
        "sub_category": None, "priority": "Critical", "employee_email": "not-an-email", "attachments": [],
    }  # fmt: skip
    give_up({"ticket_data": deployed}, "validation: employee.email: Enter a valid email address.")
    wait_for(lambda: queue_depth(broker, contracts.TICKET_DLQ) == 1, timeout=10)
    assert dead_letters_drain() == 1
    letter = DeadLetter.objects.get()
    assert letter.ticket_id == "TX20261204000001"
    assert IntegrationError.objects.get().ticket_id == "TX20261204000001"
    admin = api_client(is_admin=True)
    response = admin.post(f"/dead-letters/{letter.pk}/reprocess/", {}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["ticket"][1] == "employee.email: Enter a valid email address."
    corrected = {**deployed, "employee_email": "ana@example.com"}
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(f"/dead-letters/{letter.pk}/reprocess/", {"ticket": corrected}, format="json")
    assert response.status_code == 200, response.content
    [message] = drain_queue(broker, contracts.RECEIVE_TICKET.queue)
    assert message["ticket_data"] == corrected
    assert AuditEvent.objects.get(action="dead_letter.reprocessed").data["republished_ticket_id"] == "TX20261204000001"


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, {"ticket"}),  # the dead-lettered ticket is itself invalid
        ({"ticket": "nope"}, {"ticket"}),
        ({"ticket": {"ticket_id": "X"}}, {"ticket"}),
        ({"ticket": ticket("X"), "note": "n" * 2001}, {"note"}),
    ],
)
def test_reprocess_bad_input_is_400_and_changes_nothing(letters, broker, body, errors):
    response = api_client(is_admin=True).post(f"/dead-letters/{letters[0].pk}/reprocess/", body, format="json")
    assert response.status_code == 400 and set(response.json()["errors"]) == errors
    assert DeadLetter.objects.get(pk=letters[0].pk).status == DeadLetter.Status.PENDING
    assert queue_depth(broker, contracts.RECEIVE_TICKET.queue) == 0


def test_field_errors_of_a_corrected_ticket(letters):
    response = api_client(is_admin=True).post(
        f"/dead-letters/{letters[0].pk}/reprocess/", {"ticket": ticket("X", priority="critical")}, format="json"
    )
    assert response.status_code == 400 and "priority" in response.json()["errors"]["ticket"]


def test_discard(letters, broker):
    admin = api_client(is_admin=True)
    response = admin.post(f"/dead-letters/{letters[1].pk}/discard/", {"note": "duplicate"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "discarded"
    assert IntegrationError.objects.get(pk=letters[1].integration_error_id).status == IntegrationError.Status.RESOLVED
    assert admin.post(f"/dead-letters/{letters[1].pk}/discard/", {}, format="json").status_code == 409
    assert queue_depth(broker, contracts.RECEIVE_TICKET.queue) == 0


def test_unknown_ids_are_404_and_agents_are_403(letters):
    admin, agent = api_client(is_admin=True), api_client(UserFactory())
    for path in ("/dead-letters/999999/", "/integration-errors/999999/"):
        assert admin.get(path).status_code == 404
    for path in ("/dead-letters/999999/reprocess/", "/dead-letters/999999/discard/"):
        assert admin.post(path, {}, format="json").status_code == 404
    assert admin.patch("/integration-errors/999999/", {"status": "resolved"}, format="json").status_code == 404
    pk = letters[0].pk
    for method, path in [
        ("get", "/dead-letters/"), ("get", f"/dead-letters/{pk}/"), ("post", f"/dead-letters/{pk}/reprocess/"),
        ("post", f"/dead-letters/{pk}/discard/"), ("get", "/integration-errors/"),
        ("patch", f"/integration-errors/{letters[0].integration_error_id}/"), ("get", "/unrouted-tickets/"),
    ]:  # fmt: skip
        response = getattr(agent, method)(path, {}, format="json")
        assert response.status_code == 403 and response.json()["code"] == "permission_denied", path


def test_integration_errors_filters_and_status(letters):
    record_integration_error(source=SOURCE, kwargs={"ticket_data": {}}, reason="TimeoutError: db", retries=3)
    admin = api_client(is_admin=True)
    assert admin.get("/integration-errors/").json()["count"] == 3
    escalated = admin.get("/integration-errors/?status=escalated").json()["results"]
    assert [row["category"] for row in escalated] == ["processing"] and escalated[0]["dead_letter"] is None
    assert admin.get("/integration-errors/?category=validation&ticket_id=BAD-1").json()["count"] == 1
    error_id = letters[0].integration_error_id
    response = admin.patch(f"/integration-errors/{error_id}/", {"status": "retrying"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "retrying"
    assert response.json()["dead_letter"] == letters[0].pk
    assert AuditEvent.objects.get(action="integration_error.status_changed").data == {"from": "pending", "to": "retrying"}


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("patch", "/integration-errors/{id}/", {"status": "fixed"}, "status"),
        ("patch", "/integration-errors/{id}/", {}, "status"),
        ("get", "/integration-errors/?status=fixed", None, "status"),
        ("get", "/integration-errors/?created_after=yesterday", None, "created_after"),
        ("get", "/dead-letters/?received_before=soon", None, "received_before"),
        ("get", "/audit/?occurred_after=0001-01-01T00:00:00%2B01:00", None, "occurred_after"),  # before year 1 in UTC
    ],
)
def test_bad_input_is_400_with_field_errors(letters, method, path, body, field):
    client = api_client(is_admin=True)
    response = getattr(client, method)(path.format(id=letters[0].integration_error_id), body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"]


def test_date_time_filters_take_any_offset_iso_8601_allows(letters):
    # PostgreSQL refuses offsets past ±15:59; the filters compare instants in UTC.
    client = api_client(is_admin=True)
    assert client.get("/integration-errors/?created_after=2000-01-01T00:00:00%2B19:14").json()["count"] == 2
    assert client.get("/dead-letters/?received_before=2000-01-01T00:00:00-23:59").json()["count"] == 0


def test_unrouted_tickets(db):
    now = timezone.now()
    for i, routed in enumerate([None, now]):
        UnroutedTicket.objects.create(
            ticket_id=f"U-{i}", category="Facilities", sub_category="Lights", payload=ticket(f"U-{i}"),
            received_at=now - timedelta(minutes=i), routed_at=routed,
        )  # fmt: skip
    admin = api_client(is_admin=True)
    assert [row["ticket_id"] for row in admin.get("/unrouted-tickets/").json()["results"]] == ["U-0", "U-1"]
    assert [row["ticket_id"] for row in admin.get("/unrouted-tickets/?routed=false").json()["results"]] == ["U-0"]
    assert admin.get("/unrouted-tickets/?routed=true&category=Facilities").json()["count"] == 1


# --- Command -----------------------------------------------------------------------------------------------------
def command(*args: str) -> str:
    out = StringIO()
    call_command("dead_letters", *args, stdout=out)
    return out.getvalue()


def test_command(letters, tmp_path, broker):
    first, second = letters
    assert "BAD-1" in command("list") and "BAD-2" in command("list")
    assert json.loads(command("show", str(first.pk)))["kwargs"]["ticket_data"]["ticket_id"] == "BAD-1"
    with pytest.raises(CommandError, match="ticket"):
        command("reprocess", str(first.pk))  # the original is invalid
    corrected = tmp_path / "ticket.json"
    corrected.write_text(json.dumps(ticket("BAD-1")))
    assert "republished" in command("reprocess", str(first.pk), "--ticket", str(corrected))
    assert "discarded" in command("discard", str(second.pk), "--note", "spam")
    assert command("list") == "" and "BAD-2" in command("list", "--status", "discarded")
    with pytest.raises(CommandError):
        command("show", "999999")
    with pytest.raises(CommandError, match="already"):
        command("discard", str(second.pk))
    assert "0 new" in command("drain")


def drain_queue(broker: Connection, name: str) -> list[dict[str, Any]]:
    queue = contracts.declared_queue(name)(broker.default_channel)
    wait_for(lambda: queue_depth(broker, name) > 0, timeout=10)
    kwargs = []
    while (message := queue.get(no_ack=True)) is not None:
        kwargs.append(message.decode()[1])  # Celery message protocol 2: [args, kwargs, embed]
    return kwargs


# --- The real stack, end to end ----------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_invalid_hdts_ticket_to_the_api_then_reprocessed_into_a_task(
    monkeypatch, broker, celery_worker, celery_beat, asgi_server  # noqa: F811
):
    two_step_setup()
    monkeypatch.setenv("DEAD_LETTER_DRAIN_INTERVAL_SECONDS", "1")
    celery_worker(queues=(contracts.RECEIVE_TICKET.queue, contracts.DEAD_LETTER_DRAIN.queue))
    celery_beat()
    server = asgi_server()
    headers = {"Authorization": f"Bearer {access_token(1, 'admin', is_admin=True)}"}

    bad = {k: v for k, v in ticket("E2E-1").items() if k != "title"}
    hdts = outside_celery_app()
    hdts.send_task("tickets.tasks.receive_ticket", kwargs={"ticket_data": bad}, queue="TICKET_TASKS_PRODUCTION")

    def listed() -> list[dict[str, Any]]:
        return requests.get(f"{server.url}/dead-letters/?ticket_id=E2E-1", headers=headers, timeout=10).json()["results"]

    [letter] = wait_for(listed, timeout=60, message="the dead letter in the API")
    assert letter["status"] == "pending" and "title" in letter["reason"]
    wait_for(lambda: listed()[0]["integration_error"], timeout=30, message="the link to its integration error")
    assert not Task.objects.exists()

    response = requests.post(
        f"{server.url}/dead-letters/{letter['id']}/reprocess/", json={"ticket": ticket("E2E-1")}, headers=headers, timeout=10
    )
    assert response.status_code == 200 and response.json()["status"] == "reprocessed"
    wait_for(lambda: Task.objects.filter(external_ticket_id="E2E-1").exists(), timeout=60, message="the task")
    assert Task.objects.get().title == "Ticket E2E-1"
    assert IntegrationError.objects.get().status == IntegrationError.Status.RESOLVED
