"""Message validation: what a consumer accepts, and what it rejects for good."""
import pytest

from notification_service.decoders import assignment_draft, inapp_draft
from tts_common.messaging.worker import PermanentError

INAPP = {
    "user_id": 7,
    "subject": "SLA breached",
    "message": "Task T-1 is late.",
    "notification_type": "sla_breach",
    "related_task_id": "T-1",
    "related_ticket_id": "TX-1",
    "metadata": {"minutes_late": 5},
}


def test_inapp_message_becomes_a_draft():
    draft = inapp_draft(INAPP)
    assert (draft.user_id, draft.notification_type, draft.subject, draft.related_ticket_id) == (
        7, "sla_breach", "SLA breached", "TX-1"
    )
    assert draft.metadata == {"minutes_late": 5}


def test_optional_fields_default_and_ids_are_normalised():
    draft = inapp_draft({**INAPP, "user_id": "7", "related_task_id": 42, "related_ticket_id": None, "metadata": None})
    assert (draft.user_id, draft.related_task_id, draft.related_ticket_id, draft.metadata) == (7, "42", None, {})


@pytest.mark.parametrize(
    "change, error",
    [
        ({"user_id": None}, "user_id"),
        ({"user_id": 0}, "user_id"),
        ({"user_id": True}, "user_id"),
        ({"user_id": "seven"}, "user_id"),
        ({"user_id": 2**63}, "user_id"),
        ({"notification_type": "party_invite"}, "notification_type"),
        ({"notification_type": None}, "notification_type"),
        ({"subject": "  "}, "subject"),
        ({"subject": 5}, "subject"),
        ({"message": ["x"]}, "message"),
        ({"metadata": [1]}, "metadata"),
        ({"related_task_id": {"id": 1}}, "related_task_id"),
        ({"related_ticket_id": "x" * 101}, "related_ticket_id"),
        ({"dedup_key": ""}, "dedup_key"),
    ],
)
def test_invalid_inapp_messages_are_permanent_errors(change, error):
    with pytest.raises(PermanentError, match=error):
        inapp_draft({**INAPP, **change})


def test_missing_user_id_is_a_permanent_error():
    kwargs = dict(INAPP)
    del kwargs["user_id"]
    with pytest.raises(PermanentError, match="user_id"):
        inapp_draft(kwargs)


def test_long_subject_is_shortened_not_rejected():
    assert len(inapp_draft({**INAPP, "subject": "s" * 1000}).subject) == 255


def test_assignment_message_becomes_a_task_assignment():
    draft = assignment_draft(
        {"user_id": 3, "task_id": "T-9", "task_title": "Fix VPN", "role_name": "Network Engineer", "ticket_id": "TX-9"}
    )
    assert draft.notification_type == "task_assignment"
    assert draft.subject == "New task assigned: Fix VPN"
    assert (draft.related_task_id, draft.related_ticket_id) == ("T-9", "TX-9")
    assert draft.metadata == {"task_title": "Fix VPN", "role_name": "Network Engineer"}


@pytest.mark.parametrize("missing", ["user_id", "task_id", "task_title", "role_name"])
def test_assignment_message_without_a_required_field_is_rejected(missing):
    kwargs = {"user_id": 3, "task_id": "T-9", "task_title": "Fix VPN", "role_name": "Network Engineer"}
    del kwargs[missing]
    with pytest.raises(PermanentError, match=missing):
        assignment_draft(kwargs)


def test_dedup_key_is_stable_and_content_based():
    assert inapp_draft(INAPP).dedup_key == inapp_draft(dict(INAPP)).dedup_key
    assert inapp_draft(INAPP).dedup_key != inapp_draft({**INAPP, "message": "other"}).dedup_key
    assert inapp_draft(INAPP).dedup_key != inapp_draft({**INAPP, "user_id": 8}).dedup_key


def test_producer_dedup_key_overrides_content():
    first = inapp_draft({**INAPP, "dedup_key": "event-1"})
    assert first.dedup_key == inapp_draft({**INAPP, "message": "edited", "dedup_key": "event-1"}).dedup_key
    assert first.dedup_key != inapp_draft({**INAPP, "dedup_key": "event-2"}).dedup_key
