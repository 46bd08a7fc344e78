"""The deployed HDTS's ticket mapped onto DESIGN §3 (tts_common.base.hdts_deployed) and checked by intake's parser: the
mapping's edge cases, errors named by HDTS's own fields, and the deployed schema's fast check agreeing with
jsonschema (it alone decides *valid* on the hot path)."""
from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from tts_common.base import hdts, hdts_deployed
from workflow_api.services import ingestion, notify

TICKET: dict[str, Any] = {
    "ticket_number": "TX20261204123456",
    "subject": "Projector",
    "category": "Asset Check Out",
    "sub_category": None,
    "priority": None,
    "description": "For the offsite.",
    "department": "Asset Department",
    "employee": {"first_name": "Ana", "last_name": "Reyes", "email": "ana@example.com", "company_id": "MA0001"},
    "employee_email": "ana@example.com",
    "attachments": [{"id": 1, "file_name": "form.pdf", "file_type": "application/pdf", "file_size": 10, "file_path": "ticket_attachments/form.pdf"}],
    "submit_date": "2026-12-04T12:34:56+08:00",
    "requested_budget": None,
    "dynamic_data": {"asset_id": "AST-1", "checkout_date": "2026-12-05", "return_date": "2026-12-05"},
    "status": "Open",
}


def parse(ticket: Any) -> ingestion.IncomingTicket:
    return ingestion.parse_ticket(ticket, received_at=timezone.now())


@pytest.mark.parametrize(
    ("given", "design"),
    [(None, "medium"), ("Critical", "urgent"), ("CRITICAL", "urgent"), ("High", "high"), ("medium", "medium"), ("Low ", "low")],
)
@override_settings(HDTS_SIGNING_SECRET="")
def test_priorities_case_insensitive_critical_urgent_null_medium(given, design):
    assert parse({**TICKET, "priority": given}).data["priority"] == design


@pytest.mark.parametrize(
    ("dynamic", "flat", "days"),
    [
        ({"checkout_date": "2026-12-05", "return_date": "2026-12-05"}, {}, 1),  # same day: at least 1
        ({"checkout_date": "2026-12-05", "return_date": "2026-12-01"}, {}, 1),  # back before out: at least 1
        ({"checkout_date": "2026-12-05", "return_date": "2027-01-04"}, {}, 30),
        ({}, {"check_out_date": "2026-12-01", "expected_return_date": "2026-12-11"}, 10),  # the model's own fields
        ({}, {"checkout_date": "2026-12-01T08:00:00+08:00", "return_date": "2026-12-03"}, 2),
        ({}, {}, None),
    ],
)
@override_settings(HDTS_SIGNING_SECRET="")
def test_duration_days_from_the_asset_dates(dynamic, flat, days):
    data = parse({**TICKET, "dynamic_data": dynamic, **flat}).data
    assert data.get("duration_days") == days


@override_settings(HDTS_SIGNING_SECRET="")
def test_the_mapping_and_every_other_field_kept():
    data = parse(TICKET).data
    assert data["ticket_id"] == "TX20261204123456" and data["title"] == "Projector"
    assert data["sub_category"] == "" and data["requester_name"] == "Ana Reyes"
    assert data["requester_email"] == "ana@example.com" and data["created_at"] == TICKET["submit_date"]
    assert data["asset_id"] == "AST-1" and "amount" not in data
    assert data["attachments"] == [{**TICKET["attachments"][0], "filename": "form.pdf"}]
    assert all(data[key] == value for key, value in TICKET.items() if key not in ("sub_category", "priority", "attachments"))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"subject": ""}, "validation: subject: This field may not be blank."),
        ({"subject": None}, "validation: subject: Must be a string."),
        ({"priority": "Severe"}, "validation: priority: Must be one of: low, medium, high, urgent."),
        ({"submit_date": "2026-12-04"}, "validation: submit_date: Enter an ISO 8601 date-time"),
        ({"employee": {"email": "not-an-email"}, "employee_email": None}, "validation: employee.email: Enter a valid email"),
        ({"attachments": [{"file_name": "a.png"}]}, "validation: attachments.0.file_path: This field is required."),
        ({"attachments": [{"file_path": "x/a.png"}]}, "validation: attachments.0.file_name: Must be a string."),
        ({"dynamic_data": {"checkout_date": "soon", "return_date": "2026-12-05"}}, "validation: dynamic_data.checkout_date: Enter a date"),
        ({"ticket_number": "T" * 101}, "validation: ticket_number: Ensure this field has no more than 100 characters."),
    ],
)
@override_settings(HDTS_SIGNING_SECRET="")
def test_errors_name_the_deployed_hdts_fields(change, reason):
    with pytest.raises(ingestion.InvalidTicket) as caught:
        parse({**TICKET, **change})
    assert str(caught.value).startswith(reason)


def test_a_design_attachment_still_needs_its_url():
    """The deployed form's storage paths do not loosen DESIGN §3: there an attachment is a URL."""
    ticket = {"ticket_id": "T-1", "title": "x", "category": "c", "sub_category": "s", "priority": "low"}
    assert hdts.validate_ticket({**ticket, "attachments": [{"filename": "a", "file_path": "x/a"}]}) == [
        "attachments.0.url: This field is required."
    ]
    assert hdts.validate_ticket({**ticket, "sub_category": ""}) == ["sub_category: This field may not be blank."]


ODD_VALUES = [
    None, "", "x", "x" * 201, 0, True, [], {}, "Critical", "urgent", "ana@", "2025-01-31T09:30:00Z", "2025-01-31",
    [{"filename": "a", "file_path": "p"}], [{"filename": "a"}], [{"filename": "a", "file_path": ""}],
    [{"filename": "a", "url": "https://e.com/a"}], [None],
]  # fmt: skip
DEPLOYED_MAPPED = hdts_deployed.to_design(TICKET)


@pytest.mark.skipif(hdts._DEPLOYED_FAST_CHECK is None, reason="fastjsonschema not installed")
@pytest.mark.parametrize("field", ["ticket_id", "title", "sub_category", "priority", "requester_email", "created_at", "attachments"])
@pytest.mark.parametrize("value", ODD_VALUES, ids=range(len(ODD_VALUES)))
def test_the_deployed_fast_check_agrees_with_jsonschema(field, value):
    ticket = {**DEPLOYED_MAPPED, field: value}
    assert hdts._DEPLOYED_FAST_CHECK(ticket) == (not list(hdts._DEPLOYED_VALIDATOR.iter_errors(ticket))), ticket


@pytest.mark.parametrize("queue", ["ticket_status-default", "TICKET_TASKS_PRODUCTION", "notification-queue-default"])
def test_a_queue_of_ours_is_never_used_for_the_deployed_hdts(queue):
    with override_settings(HDTS_STATUS_QUEUE=queue), pytest.raises(ValueError, match="is a queue of ours"):
        notify.deployed_hdts_queue()


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"ticket_number": "TX1", "status": "Closed", "csat_rating": 5, "feedback": "ok"}, []),
        ({"ticket_number": "TX1", "status": "Withdrawn"}, []),
        ({"ticket_number": "TX1", "status": "Closed", "csat_rating": True}, ["csat_rating: must be an integer from 1 to 5, or null"]),
        ({"ticket_number": "TX1", "status": "Closed", "csat_rating": 0}, ["csat_rating: must be an integer from 1 to 5, or null"]),
        ({"ticket_number": "", "status": "Resolved"}, [
            "ticket_number: must be a non-empty string of at most 255 characters", "status: must be one of: Closed, Withdrawn",
        ]),
        ({"ticket_number": "TX1", "status": "Closed", "feedback": "x\x00"}, [
            "feedback: must be storable text of at most 255 characters, or null",
        ]),
        ({"ticket_number": "TX1", "status": "Closed", "date_completed": "yesterday"}, [
            "date_completed: must be an ISO 8601 date-time with a time zone, or null",
        ]),
    ],
)  # fmt: skip
def test_status_payloads(payload, errors):
    assert hdts_deployed.status_errors(payload) == errors
