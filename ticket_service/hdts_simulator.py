"""Realistic HDTS tickets for demos, load tests and tests: valid ones that match the demo workflows (and some that
match none), and invalid ones of every kind the schema must reject. Deterministic for a given ``(i, seed)``."""
from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

# (category, sub_category, weight): the two demo workflows (DESIGN §6), then tickets no workflow matches.
ROUTES: tuple[tuple[str, str, int], ...] = (
    ("IT Support", "Network", 40),
    ("Procurement", "Equipment", 40),
    ("IT Support", "Printer", 7),
    ("Facilities", "Cleaning", 7),
    ("HR", "Payroll", 6),
)
_TITLES: dict[str, tuple[str, ...]] = {
    "Network": ("VPN drops every few minutes", "No Wi-Fi on floor {n}", "Slow network in meeting room {n}",
                "Cannot reach the file server", "Ethernet port {n} dead"),
    "Equipment": ("New laptop for new hire", "Replacement monitor (desk {n})", "Docking station request",
                  "Headset for the support team", "{n} ergonomic keyboards"),
    "Printer": ("Printer on floor {n} jams", "Cannot print to PRN-{n}"),
    "Cleaning": ("Spill in kitchen {n}", "Meeting room {n} needs cleaning"),
    "Payroll": ("Overtime missing on payslip", "Tax code change request"),
}  # fmt: skip
_DEPARTMENTS = ("Finance", "Engineering", "Sales", "Operations", "Human Resources", None)
_NAMES = ("Ana Santos", "Ben Okafor", "Chen Wei", "Dana Kowalski", "Élodie Martin", "Farid Haddad")
_PRIORITIES = (("low", 30), ("medium", 40), ("high", 22), ("urgent", 8))
# Without a ``now``, tickets are dated before this fixed moment, so a test gets the same ticket whenever it runs.
_FIXED_NOW = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
# How long ago a ticket was raised, in minutes (range, weight): mostly within the hour, some earlier in the day, a few
# long enough ago that their SLA clock warns or has run out (the demo's urgent SLA is 4 h) — a help desk's real day.
_AGES_MINUTES = (((0, 60), 70), ((60, 240), 20), ((240, 480), 10))


def _rng(i: int, seed: int) -> random.Random:
    return random.Random(seed * 1_000_003 + i)


def make_ticket(i: int, *, seed: int = 0, prefix: str = "HDTS", now: datetime | None = None) -> dict[str, Any]:
    """The ``i``-th ticket of a run: a valid HDTS ticket with id ``{prefix}-{i:07d}``, raised a realistic while before
    ``now`` (see :data:`_AGES_MINUTES`; default: a fixed moment)."""
    rng = _rng(i, seed)
    category, sub_category, _ = rng.choices(ROUTES, weights=[w for *_, w in ROUTES])[0]
    name = rng.choice(_NAMES)
    ticket: dict[str, Any] = {
        "ticket_id": f"{prefix}-{i:07d}",
        "title": rng.choice(_TITLES[sub_category]).format(n=rng.randint(1, 12)),
        "description": f"Reported by {name} via the HDTS portal. Please see the attached details.",
        "category": category,
        "sub_category": sub_category,
        "priority": rng.choices([p for p, _ in _PRIORITIES], weights=[w for _, w in _PRIORITIES])[0],
        "requester_name": name,
        "requester_email": name.split()[0].lower().replace("é", "e") + f".{i}@example.com",
        "created_at": _created_at(rng, now or _FIXED_NOW),
    }
    department = rng.choice(_DEPARTMENTS)
    if department:
        ticket["department"] = department
    if rng.random() < 0.3:
        ticket["attachments"] = [
            {"filename": f"screenshot-{i}.png", "url": f"https://hdts.example.com/files/{i}/screenshot-{i}.png"}
        ]
    if sub_category == "Equipment":  # what the demo's AMS reservation and BMS budget check ask for
        ticket["asset_id"] = f"ASSET-{rng.randint(100, 999)}"
        ticket["duration_days"] = rng.choice((7, 14, 30, 90))
        ticket["amount"] = f"{rng.randint(40, 3000)}.00"
    return ticket


def _created_at(rng: random.Random, now: datetime) -> str:
    (low, high), _ = rng.choices(_AGES_MINUTES, weights=[w for _, w in _AGES_MINUTES])[0]
    raised = now - timedelta(minutes=rng.uniform(low, high))
    return raised.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _without(field: str) -> Callable[[dict[str, Any]], None]:
    return lambda ticket: ticket.pop(field)


def _setter(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda ticket: ticket.__setitem__(field, value)


# Each case breaks exactly one rule of the schema (name → how).
INVALID_CASES: dict[str, Callable[[dict[str, Any]], None]] = {
    "missing_ticket_id": _without("ticket_id"),
    "missing_title": _without("title"),
    "missing_category": _without("category"),
    "missing_sub_category": _without("sub_category"),
    "missing_priority": _without("priority"),
    "bad_priority": _setter("priority", "critical"),
    "title_too_long": _setter("title", "T" * 201),
    "bad_email": _setter("requester_email", "not-an-email"),
    "bad_attachment_url": _setter("attachments", [{"filename": "a.txt", "url": "not a url"}]),
    "attachment_without_filename": _setter("attachments", [{"url": "https://hdts.example.com/f/1"}]),
    "bad_created_at": _setter("created_at", "yesterday"),
    "title_not_string": _setter("title", 12345),
    "ticket_id_not_string": _setter("ticket_id", 42),
    "attachments_not_list": _setter("attachments", "https://hdts.example.com/f/1"),
}


def make_invalid_ticket(
    i: int, *, seed: int = 0, prefix: str = "HDTS-BAD", case: str | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """A ticket that fails validation in one way: ``case`` (a key of INVALID_CASES), or the ``i``-th in turn."""
    ticket = make_ticket(i, seed=seed, prefix=prefix, now=now)
    breaker = INVALID_CASES[case] if case else list(INVALID_CASES.values())[i % len(INVALID_CASES)]
    breaker(ticket)
    return ticket


VALID, DUPLICATE, INVALID = "valid", "duplicate", "invalid"


def ticket_stream(
    count: int,
    *,
    duplicates: float = 0.0,
    invalid: float = 0.0,
    seed: int = 0,
    prefix: str = "HDTS",
    now: datetime | None = None,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``count`` tickets as HDTS would send them, each tagged VALID, DUPLICATE (a resend of an earlier valid ticket,
    as at-least-once delivery or a user's double submit produces) or INVALID, with the given probabilities; all
    raised before ``now`` (see :func:`make_ticket`)."""
    rng = random.Random(seed)
    valid_sent = 0
    for n in range(count):
        draw = rng.random()
        if draw < invalid:
            yield INVALID, make_invalid_ticket(n, seed=seed, prefix=f"{prefix}-BAD", now=now)
        elif draw < invalid + duplicates and valid_sent:
            yield DUPLICATE, make_ticket(rng.randrange(valid_sent), seed=seed, prefix=prefix, now=now)
        else:
            yield VALID, make_ticket(valid_sent, seed=seed, prefix=prefix, now=now)
            valid_sent += 1
