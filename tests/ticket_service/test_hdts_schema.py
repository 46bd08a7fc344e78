"""The shared HDTS ticket schema (DESIGN §3) and priority mapping."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ticket_service.hdts_simulator import INVALID_CASES, make_invalid_ticket, make_ticket
from tts_common.base.hdts import PRIORITY_MAP, internal_priority, parse_date_time, ticket_field_errors, validate_ticket

REQUIRED = ("ticket_id", "title", "category", "sub_category", "priority")


def minimal() -> dict:
    return {"ticket_id": "T-1", "title": "VPN down", "category": "IT Support", "sub_category": "Network",
            "priority": "high"}  # fmt: skip


def errors_with(**changes: object) -> dict[str, list[str]]:
    return ticket_field_errors({**minimal(), **changes})


def test_minimal_and_generated_tickets_are_valid() -> None:
    assert validate_ticket(minimal()) == []
    for i in range(500):
        assert validate_ticket(make_ticket(i)) == [], make_ticket(i)


def test_optional_fields_may_be_null_and_extra_fields_are_allowed() -> None:
    nulls = dict.fromkeys(("description", "department", "requester_email", "requester_name", "created_at",
                           "attachments"))  # fmt: skip
    assert errors_with(**nulls, hdts_extra="kept") == {}


@pytest.mark.parametrize("field", REQUIRED)
def test_every_required_field(field: str) -> None:
    ticket = minimal()
    del ticket[field]
    assert ticket_field_errors(ticket) == {field: ["This field is required."]}
    assert validate_ticket(ticket) == [f"{field}: This field is required."]


@pytest.mark.parametrize("priority", ["low", "medium", "high", "urgent"])
def test_priority_enum_accepts(priority: str) -> None:
    assert errors_with(priority=priority) == {}


@pytest.mark.parametrize("priority", ["critical", "HIGH", "", None, 1])
def test_priority_enum_rejects(priority: object) -> None:
    assert "priority" in errors_with(priority=priority)


def test_lengths() -> None:
    assert errors_with(title="x" * 200) == {}
    assert errors_with(title="x" * 201) == {"title": ["Ensure this field has no more than 200 characters."]}
    assert errors_with(title="") == {"title": ["This field may not be blank."]}
    assert errors_with(ticket_id="") == {"ticket_id": ["This field may not be blank."]}
    assert "category" in errors_with(category="c" * 256)


@pytest.mark.parametrize(
    "field, value",
    [("ticket_id", 42), ("title", ["a"]), ("category", None), ("sub_category", {}), ("description", 3),
     ("attachments", "https://x.example/a"), ("attachments", [1]), ("requester_email", True)],
)  # fmt: skip
def test_wrong_types(field: str, value: object) -> None:
    errors = errors_with(**{field: value})
    assert any(key.startswith(field) for key in errors), errors


@pytest.mark.parametrize("email", ["ana@example.com", "a.b+tag@sub.example.co.uk", "o'neil@example.org"])
def test_email_accepted(email: str) -> None:
    assert errors_with(requester_email=email) == {}


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "@example.com", "a b@example.com", "a@@example.com",
                                   "a@example..com", ""])  # fmt: skip
def test_email_rejected(email: str) -> None:
    assert errors_with(requester_email=email) == {"requester_email": ["Enter a valid email address."]}


@pytest.mark.parametrize("url", ["https://files.example.com/a.png", "http://10.0.0.1:8080/x?y=1#z",
                                 "ftp://host/file.txt", "urn:isbn:0451450523", "https://ex.com/a%20b"])  # fmt: skip
def test_uri_accepted(url: str) -> None:
    assert errors_with(attachments=[{"filename": "f", "url": url}]) == {}


@pytest.mark.parametrize("url", ["not a url", "/relative/path", "files.example.com/a.png", "https://", "http:foo",
                                 "https://ex.com/a b", "https://ex.com/%zz", ""])  # fmt: skip
def test_uri_rejected(url: str) -> None:
    assert errors_with(attachments=[{"filename": "f", "url": url}]) == {
        "attachments.0.url": ["Enter a valid absolute URI."]
    }


@pytest.mark.parametrize("value", ["2025-01-31T09:30:00Z", "2025-01-31T09:30:00.123456+02:00", "2024-02-29t23:59:59z",
                                   "2025-01-31T09:30:00+19:14", "0001-01-01T23:00:00+23:00", "9998-12-31T23:59:59Z"])  # fmt: skip
def test_date_time_accepted(value: str) -> None:
    assert errors_with(created_at=value) == {}


@pytest.mark.parametrize("value", ["yesterday", "2025-01-31", "2025-01-31T09:30:00", "2025-02-30T00:00:00Z",
                                   "2025-01-31 09:30:00Z", "31/01/2025 09:30",
                                   "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
                                   "9999-01-01T00:00:00Z"])  # no room for an SLA  # fmt: skip
def test_date_time_rejected(value: str) -> None:
    assert list(errors_with(created_at=value)) == ["created_at"]


@pytest.mark.parametrize(
    ("value", "utc"),
    [
        ("2024-02-29t23:59:59z", datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC)),
        ("2025-01-31T09:30:00+19:14", datetime(2025, 1, 30, 14, 16, tzinfo=UTC)),  # PostgreSQL refuses +19:14 itself
    ],
)
def test_date_times_are_read_as_instants_in_utc(value: str, utc: datetime) -> None:
    assert parse_date_time(value) == utc and parse_date_time(value).utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"title": "a\x00b"}, "title", "Null characters are not allowed."),
        ({"description": "\ud800"}, "description", "Surrogate characters are not allowed."),
        ({"attachments": [{"filename": "\x00", "url": "https://e.com/a"}]}, "attachments.0.filename", "Null"),
        ({"hdts_extra": {"nested": ["ok", "\x00"]}}, "hdts_extra.nested.1", "Null"),
        ({"hdts\x00extra": 1}, "non_field_errors", "Property names: Null characters are not allowed."),
    ],
)
def test_text_the_database_cannot_store_is_invalid_anywhere(changes: dict, field: str, message: str) -> None:
    errors = errors_with(**changes)
    assert list(errors) == [field] and errors[field][0].startswith(message)


def test_attachment_items_need_filename_and_url() -> None:
    assert errors_with(attachments=[{}]) == {
        "attachments.0.filename": ["This field is required."],
        "attachments.0.url": ["This field is required."],
    }


@pytest.mark.parametrize("body", [[], "ticket", 1, None])
def test_a_non_object_is_rejected(body: object) -> None:
    assert ticket_field_errors(body) == {"non_field_errors": ["Must be an object."]}


def test_messages_do_not_echo_the_value() -> None:
    assert validate_ticket({**minimal(), "title": "secret" * 100}) == [
        "title: Ensure this field has no more than 200 characters."
    ]


@pytest.mark.parametrize("case", INVALID_CASES)
def test_every_simulated_invalid_case_is_rejected(case: str) -> None:
    assert validate_ticket(make_invalid_ticket(3, case=case))


def test_priority_map_default() -> None:
    assert dict(PRIORITY_MAP) == {"high": "urgent", "medium": "high", "low": "medium", "urgent": "urgent"}


def test_priority_map_is_overridden_per_key_by_the_setting(settings) -> None:
    settings.HDTS_PRIORITY_MAP = {"low": "low"}
    assert internal_priority("low") == "low"
    assert internal_priority("high") == "urgent"
    settings.HDTS_PRIORITY_MAP = {"critical": "urgent"}
    with pytest.raises(ValueError, match="critical"):
        internal_priority("low")
