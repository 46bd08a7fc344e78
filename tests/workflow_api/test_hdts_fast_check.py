"""The compiled fast check of the HDTS schema (tts_common.base.hdts) must accept exactly what jsonschema accepts: it
alone decides that a ticket is valid on the intake hot path."""
from __future__ import annotations

import random
from typing import Any

import pytest

from tts_common.base import hdts

pytestmark = pytest.mark.skipif(hdts._FAST_CHECK is None, reason="fastjsonschema not installed")

VALID = {
    "ticket_id": "T-1",
    "title": "Printer on fire",
    "category": "IT Support",
    "sub_category": "Network",
    "priority": "medium",
    "description": "It smokes.",
    "department": "Ops",
    "requester_email": "ana@example.com",
    "requester_name": "Ana",
    "created_at": "2025-01-31T09:30:00Z",
    "attachments": [{"filename": "a.png", "url": "https://files.example.com/a.png"}],
}

ODD_VALUES = [
    None, "", " ", "x", "x" * 200, "x" * 201, "x" * 255, "x" * 256, 0, 1, 1.5, True, False, [], {}, ["a"],
    "low", "urgent", "LOW", "ana@example.com", "ana@", "a@b", "a@b.c", "ana@exa_mple.com", "http://", "http:foo",
    "https://example.com/x", "mailto:a@b.c", "ftp://h", "2025-01-31T09:30:00Z", "2025-01-31T09:30:00",
    "2025-02-30T09:30:00Z", "2025-01-31t09:30:00+01:00", "2025-01-31 09:30:00Z", "é" * 200, "é" * 201,
    [{"filename": "a", "url": "https://e.com/a"}], [{"filename": "a"}], [{"filename": "", "url": "https://e.com"}],
    [{"filename": "a", "url": "not a uri"}], [{"filename": "a", "url": "https://e.com/" + "x" * 2040}], [None], ["a"],
]  # fmt: skip


def agree(ticket: Any) -> None:
    assert hdts._FAST_CHECK(ticket) == (not list(hdts._VALIDATOR.iter_errors(ticket))), ticket


@pytest.mark.parametrize("field", list(VALID))
@pytest.mark.parametrize("value", ODD_VALUES, ids=range(len(ODD_VALUES)))
def test_each_field_with_odd_values(field: str, value: Any) -> None:
    agree({**VALID, field: value})


@pytest.mark.parametrize("field", list(VALID))
def test_each_field_missing(field: str) -> None:
    agree({key: value for key, value in VALID.items() if key != field})


@pytest.mark.parametrize("ticket", [None, [], "T-1", 1, {}, {"extra": 1, **VALID}])
def test_not_tickets(ticket: Any) -> None:
    agree(ticket)


def test_random_mixes() -> None:
    rng = random.Random(20261126)
    for _ in range(3000):
        ticket = dict(VALID)
        for field in rng.sample(list(VALID), rng.randint(1, 4)):
            if rng.random() < 0.2:
                ticket.pop(field)
            else:
                ticket[field] = rng.choice(ODD_VALUES)
        agree(ticket)


def test_messages_unchanged_for_invalid_tickets() -> None:
    assert hdts.validate_ticket({**VALID, "title": None, "priority": "now"}) == [
        "priority: Must be one of: low, medium, high, urgent.",
        "title: Must be a string.",
    ]
    assert hdts.validate_ticket(VALID) == []
