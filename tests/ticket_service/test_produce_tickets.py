"""``manage.py produce_tickets``: HDTS's way of publishing, counted in the real queue."""
from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import queue_depth, wait_for
from ticket_service.hdts_simulator import DUPLICATE, INVALID, ROUTES, VALID, ticket_stream
from tts_common import contracts
from tts_common.base import signing
from tts_common.base.hdts import validate_ticket

from .conftest import SECRET, drain_ticket_queue

QUEUE = contracts.RECEIVE_TICKET.queue


def produce(**options: object) -> str:
    out = StringIO()
    call_command("produce_tickets", no_progress=True, stdout=out, **options)
    return out.getvalue()


def test_publishes_count_messages_as_hdts_does(broker) -> None:
    summary = produce(count=120, seed=1)
    published_at = datetime.now(UTC)
    wait_for(lambda: queue_depth(broker, QUEUE) == 120, timeout=10, message="120 messages queued")
    assert "sent 120 tickets (valid 120, duplicates 0, invalid 0)" in summary

    messages = drain_ticket_queue(broker)
    assert {m["task"] for m in messages} == {contracts.RECEIVE_TICKET.task}
    assert all(set(m["kwargs"]) == {"ticket_data"} and m["args"] == [] for m in messages)
    tickets = [m["kwargs"]["ticket_data"] for m in messages]
    assert all(validate_ticket(t) == [] for t in tickets)
    assert len({t["ticket_id"] for t in tickets}) == 120
    routes = Counter((t["category"], t["sub_category"]) for t in tickets)
    assert routes[("IT Support", "Network")] and routes[("Procurement", "Equipment")]
    assert set(routes) - {("IT Support", "Network"), ("Procurement", "Equipment")}  # some match no workflow
    # A real day: raised before now, most within the hour, a few hours ago for some (SLA warnings and breaches).
    ages_hours = [(published_at - datetime.fromisoformat(t["created_at"])).total_seconds() / 3600 for t in tickets]
    assert all(0 <= age <= 8 for age in ages_hours)
    assert sum(age < 1 for age in ages_hours) > 60 and sum(age > 4 for age in ages_hours) > 0


def test_duplicates_and_invalid_options(broker) -> None:
    summary = produce(count=300, duplicates=0.2, invalid=0.1, seed=7, prefix="MIX")
    kinds = Counter(kind for kind, _ in ticket_stream(300, duplicates=0.2, invalid=0.1, seed=7, prefix="MIX"))
    assert f"valid {kinds[VALID]}, duplicates {kinds[DUPLICATE]}, invalid {kinds[INVALID]}" in summary
    assert 30 < kinds[DUPLICATE] < 90 and 10 < kinds[INVALID] < 50

    tickets = [m["kwargs"]["ticket_data"] for m in drain_ticket_queue(broker)]
    assert len(tickets) == 300
    invalid = [t for t in tickets if validate_ticket(t)]
    valid_ids = Counter(t["ticket_id"] for t in tickets if not validate_ticket(t))
    assert len(invalid) == kinds[INVALID]
    assert len(valid_ids) == kinds[VALID] and sum(valid_ids.values()) - len(valid_ids) == kinds[DUPLICATE]


def test_signed_messages_verify(broker) -> None:
    produce(count=5, signed=True, seed=3)
    for message in drain_ticket_queue(broker):
        kwargs = message["kwargs"]
        signing.verify(SECRET, kwargs["signature"], kwargs["signed_at"], kwargs["ticket_data"], max_age_seconds=60)


def test_rate_is_respected(broker) -> None:
    started = time.monotonic()
    produce(count=10, rate=20, seed=4)
    assert time.monotonic() - started >= 9 / 20
    wait_for(lambda: queue_depth(broker, QUEUE) == 10, timeout=10)


def test_bad_options(settings) -> None:
    with pytest.raises(CommandError):
        produce(count=1, duplicates=1.5)
    settings.HDTS_SIGNING_SECRET = ""
    with pytest.raises(CommandError, match="HDTS_SIGNING_SECRET"):
        produce(count=1, signed=True)


def test_generator_routes_cover_the_demo_workflows() -> None:
    assert {("IT Support", "Network"), ("Procurement", "Equipment")} <= {(c, s) for c, s, _ in ROUTES}
