"""POST/GET /api/tickets/ over real HTTP (uvicorn process), with the published messages read back from RabbitMQ."""
from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests

from tests.conftest import queue_depth
from ticket_service.hdts_simulator import INVALID_CASES, make_invalid_ticket, make_ticket
from ticket_service.models import HdtsTicket
from tts_common import contracts
from tts_common.base import signing
from tts_common.base.json_input import MAX_DEPTH

from .conftest import SECRET, drain_ticket_queue
from .factories import HdtsTicketFactory, TicketStatusUpdateFactory

pytestmark = pytest.mark.django_db(transaction=True)
QUEUE = contracts.RECEIVE_TICKET.queue


def signed_headers(ticket: Any, signed_at: int | None = None, secret: str = SECRET) -> dict[str, str]:
    signed_at = int(time.time()) if signed_at is None else signed_at
    return {"X-HDTS-Signature": signing.sign(secret, signed_at, ticket), "X-HDTS-Signed-At": str(signed_at)}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def url(asgi_server) -> str:
    return asgi_server().url + "/api/tickets/"


def assert_error(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["status"] == status and body["code"] and body["detail"]
    return body


def test_jwt_intake_stores_and_publishes_the_exact_signed_message(url, broker, hdts_token) -> None:
    ticket = make_ticket(1, prefix="HTTP")
    response = requests.post(url, json=ticket, headers=bearer(hdts_token), timeout=40)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["ticket_id"] == ticket["ticket_id"] and body["status"] == "received"
    assert HdtsTicket.objects.get(ticket_id=ticket["ticket_id"]).payload == ticket

    [message] = drain_ticket_queue(broker)
    assert message["task"] == "tickets.tasks.receive_ticket" and message["args"] == []
    kwargs = message["kwargs"]
    assert set(kwargs) == {"ticket_data", "signature", "signed_at"} and kwargs["ticket_data"] == ticket
    signing.verify(SECRET, kwargs["signature"], kwargs["signed_at"], ticket, max_age_seconds=60)


def test_signed_intake_without_a_jwt(url, broker) -> None:
    ticket = make_ticket(2, prefix="HTTP")
    # The signature covers the JSON value, not the bytes: any key order or spacing verifies.
    raw = json.dumps(dict(reversed(list(ticket.items()))), indent=2)
    response = requests.post(
        url, data=raw, headers={"Content-Type": "application/json", **signed_headers(ticket)}, timeout=40
    )
    assert response.status_code == 201, response.text
    assert [m["kwargs"]["ticket_data"] for m in drain_ticket_queue(broker)] == [ticket]


def test_a_repeat_is_idempotent_and_a_different_ticket_under_the_same_id_conflicts(url, broker, hdts_token) -> None:
    ticket = make_ticket(3, prefix="HTTP")
    assert requests.post(url, json=ticket, headers=bearer(hdts_token), timeout=40).status_code == 201
    repeat = requests.post(url, json=ticket, headers=signed_headers(ticket), timeout=40)
    assert repeat.status_code == 200 and repeat.json()["ticket_id"] == ticket["ticket_id"]

    conflict = requests.post(url, json={**ticket, "title": "Other"}, headers=bearer(hdts_token), timeout=40)
    assert "different content" in assert_error(conflict, 409)["detail"]
    assert len(drain_ticket_queue(broker)) == 1
    assert HdtsTicket.objects.get().title == ticket["title"]


UNAUTHENTICATED = {
    "stale": lambda t: signed_headers(t, signed_at=int(time.time()) - 301),  # a replayed request
    "wrong-secret": lambda t: signed_headers(t, secret="wrong"),
    "other-content": lambda t: signed_headers({**t, "title": "Other"}),
    "no-signed-at": lambda t: {"X-HDTS-Signature": signed_headers(t)["X-HDTS-Signature"]},
    "no-signature": lambda t: {"X-HDTS-Signed-At": str(int(time.time()))},
    "garbage": lambda t: {"X-HDTS-Signature": "zz", "X-HDTS-Signed-At": str(int(time.time()))},
    "none": lambda t: {},
    "bad-jwt": lambda t: bearer("not.a.jwt"),
}


def test_unauthenticated_requests_are_401_and_change_nothing(url, broker) -> None:
    ticket = make_ticket(4, prefix="HTTP")
    for case, headers_for in UNAUTHENTICATED.items():
        response = requests.post(url, json=ticket, headers=headers_for(ticket), timeout=10)
        body = assert_error(response, 401)
        assert "WWW-Authenticate" in response.headers, case
        if case == "stale":
            assert body["code"] == "stale_signature" and "old" in body["detail"]
    assert not HdtsTicket.objects.exists() and queue_depth(broker, QUEUE) == 0


@pytest.mark.parametrize("signed_at", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999", "not-a-time", "2026-12-01T10:00"])
def test_a_signed_at_that_is_no_finite_time_is_a_400_even_when_signed(url, broker, signed_at) -> None:
    """``nan`` compares false with everything, so it once passed the freshness check: a request signed with it
    could be replayed for ever."""
    ticket = make_ticket(5, prefix="HTTP")
    headers = {"X-HDTS-Signature": signing.sign(SECRET, signed_at, ticket), "X-HDTS-Signed-At": signed_at}
    body = assert_error(requests.post(url, json=ticket, headers=headers, timeout=10), 400)
    assert body["code"] == "invalid" and list(body["errors"]) == ["X-HDTS-Signed-At"], body
    assert not HdtsTicket.objects.exists() and queue_depth(broker, QUEUE) == 0


def test_users_without_an_hdts_role_are_forbidden_and_admins_allowed(url, broker, make_token) -> None:
    ticket = make_ticket(6, prefix="HTTP")
    agent = make_token(user_id=7, roles={"TTS": ["IT Support Agent"]})
    assert_error(requests.post(url, json=ticket, headers=bearer(agent), timeout=10), 403)
    assert_error(requests.get(url, headers=bearer(agent), timeout=10), 403)
    assert_error(requests.get(url, headers=signed_headers({}), timeout=10), 403)  # HDTS itself may only submit
    assert not HdtsTicket.objects.exists() and queue_depth(broker, QUEUE) == 0

    admin = make_token(user_id=1, is_admin=True)
    assert requests.post(url, json=ticket, headers=bearer(admin), timeout=40).status_code == 201


def test_invalid_tickets_are_400_with_field_errors_and_change_nothing(url, broker, hdts_token) -> None:
    for case in INVALID_CASES:
        ticket = make_invalid_ticket(7, case=case)
        for headers in (bearer(hdts_token), signed_headers(ticket)):
            body = assert_error(requests.post(url, json=ticket, headers=headers, timeout=10), 400)
            assert body["code"] == "invalid" and body["errors"], case
            assert all(isinstance(messages, list) for messages in body["errors"].values())
    title_missing = requests.post(
        url, json=make_invalid_ticket(7, case="missing_title"), headers=bearer(hdts_token), timeout=10
    )
    assert title_missing.json()["errors"] == {"title": ["This field is required."]}
    assert not HdtsTicket.objects.exists() and queue_depth(broker, QUEUE) == 0


def test_malformed_bodies(url, broker, hdts_token) -> None:
    for data, content_type, status in [
        ("{not json", "application/json", 400),
        ("[]", "application/json", 400),
        ("null", "application/json", 400),
        ("ticket_id=1", "application/x-www-form-urlencoded", 415),
    ]:
        headers = {"Content-Type": content_type, **bearer(hdts_token)}
        assert_error(requests.post(url, data=data, headers=headers, timeout=10), status)
    # Nested past the limit (the parser's RecursionError was a 500), with a JWT or signed.
    too_deep = {**make_ticket(8, prefix="HTTP"), "extra": json.loads("[" * MAX_DEPTH + "]" * MAX_DEPTH)}
    for data in ("[" * 100_000, json.dumps(too_deep)):
        for headers in (bearer(hdts_token), signed_headers(too_deep)):
            response = requests.post(url, data=data, headers={"Content-Type": "application/json", **headers}, timeout=10)
            assert assert_error(response, 400)["code"] == "parse_error"
    assert not HdtsTicket.objects.exists() and queue_depth(broker, QUEUE) == 0


def test_list_filters_paginates_and_shows_status(url, hdts_token) -> None:
    HdtsTicketFactory.create_batch(3, priority="low", status="in_progress")
    HdtsTicketFactory.create_batch(2, priority="urgent")
    HdtsTicketFactory(priority="medium")
    get = lambda query="": requests.get(url + query, headers=bearer(hdts_token), timeout=10)  # noqa: E731

    body = get("?page_size=4").json()
    assert body["count"] == 6 and len(body["results"]) == 4 and body["next"] and body["previous"] is None
    assert get("?status=in_progress&priority=low").json()["count"] == 3
    assert get("?priority=urgent").json()["count"] == 2
    [medium] = get("?priority=medium").json()["results"]
    assert medium["status"] == "received"
    assert assert_error(get("?priority=critical"), 400)["errors"] == {
        "priority": ["Select a valid choice. critical is not one of the available choices."]
    }
    assert_error(get("?page=99"), 404)


def test_detail_shows_status_history_and_unknown_ids_are_404(url, hdts_token) -> None:
    ticket = HdtsTicketFactory(status="resolved")
    TicketStatusUpdateFactory(ticket_id=ticket.ticket_id, status="in_progress")
    TicketStatusUpdateFactory(ticket_id=ticket.ticket_id, status="resolved")

    body = requests.get(f"{url}{ticket.ticket_id}/", headers=bearer(hdts_token), timeout=10).json()
    assert body["status"] == "resolved" and body["payload"] == ticket.payload
    assert [h["status"] for h in body["status_history"]] == ["in_progress", "resolved"]
    assert_error(requests.get(f"{url}NOPE-1/", headers=bearer(hdts_token), timeout=10), 404)
    assert_error(requests.get(f"{url}{ticket.ticket_id}/", timeout=10), 401)
