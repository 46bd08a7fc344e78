"""Who sees a ticket's comments: admins and the ticket's participants, from messaging_service's copy; anyone else
gets the 404 of a ticket that does not exist (in-process; the same attacks on the real stack:
test_participants_stack.py)."""
from __future__ import annotations

import uuid

import pytest

from messaging_service import services
from messaging_service.models import Comment, TicketParticipant
from messaging_service.tasks import ticket_participants_sync
from tts_common.messaging.worker import PermanentError

from .conftest import share

pytestmark = pytest.mark.django_db

URL = "/api/comments/"
NOT_FOUND = {"status": 404, "code": "not_found", "detail": "Not found."}


def test_a_non_participant_gets_the_404_of_a_missing_ticket_everywhere(api, alice, carol, ticket):
    comment = api(alice).post(URL, {"ticket_id": ticket, "text": "secret plan"}, format="json").json()
    attempts = {
        "list": api(carol).get(URL, {"ticket_id": ticket}),
        "detail": api(carol).get(f"{URL}{comment['id']}/"),
        "post": api(carol).post(URL, {"ticket_id": ticket, "text": "let me in"}, format="json"),
        "edit": api(carol).patch(f"{URL}{comment['id']}/", {"text": "mine now"}, format="json"),
        "delete": api(carol).delete(f"{URL}{comment['id']}/"),
        # what a ticket or comment that does not exist answers: word for word the same
        "no such ticket": api(carol).get(URL, {"ticket_id": "T-does-not-exist"}),
        "post on no such ticket": api(carol).post(URL, {"ticket_id": "T-nope", "text": "hi"}, format="json"),
        "no such comment": api(carol).get(f"{URL}{comment['id'] + 1000}/"),
    }
    assert {name: (r.status_code, r.json()) for name, r in attempts.items()} == {
        name: (404, NOT_FOUND) for name in attempts
    }
    assert list(Comment.objects.values_list("ticket_id", "text", "is_deleted")) == [(ticket, "secret plan", False)]


def test_participants_and_admins_see_the_ticket(api, alice, bob, admin, ticket):
    api(alice).post(URL, {"ticket_id": ticket, "text": "hi"}, format="json")
    for who in (alice, bob, admin):
        assert api(who).get(URL, {"ticket_id": ticket}).json()["count"] == 1


def test_admins_see_a_ticket_nobody_takes_part_in_but_not_one_without_a_copy(api, admin):
    share("T-held")  # a task nobody holds or owns yet
    assert api(admin).post(URL, {"ticket_id": "T-held", "text": "who takes this?"}, format="json").status_code == 201
    response = api(admin).post(URL, {"ticket_id": "T-unknown", "text": "hello?"}, format="json")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert list(Comment.objects.values_list("ticket_id", flat=True)) == ["T-held"]


def test_the_copy_only_grows_whatever_the_order_and_repeats(api, alice, bob, carol):
    task_id = str(uuid.uuid4())
    snapshot = lambda *who: {  # noqa: E731
        "ticket_id": "T-grow", "task_id": task_id,
        "participants": [{"user_id": w.id, "username": w.username} for w in who],
    }  # fmt: skip
    # The later snapshot (after a transfer from alice to bob) arrives first, the earlier one twice, then again.
    services.ticket_participants_record([snapshot(alice, bob, carol)])
    services.ticket_participants_record([snapshot(alice, carol), snapshot(alice, carol)])
    services.ticket_participants_record([snapshot(carol)])
    assert sorted(TicketParticipant.objects.filter(ticket_id="T-grow").values_list("user_id", flat=True)) == [
        alice.id, bob.id, carol.id,
    ]  # fmt: skip
    for who in (alice, bob, carol):
        assert api(who).get(URL, {"ticket_id": "T-grow"}).status_code == 200


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"tasks": "T-1"},
        {"tasks": ["T-1"]},
        {"tasks": [{"ticket_id": "", "task_id": str(uuid.uuid4()), "participants": []}]},
        {"tasks": [{"ticket_id": "x" * 129, "task_id": str(uuid.uuid4()), "participants": []}]},
        {"tasks": [{"ticket_id": "T-1", "task_id": "not-a-uuid", "participants": []}]},
        {"tasks": [{"ticket_id": "T-1", "task_id": str(uuid.uuid4()), "participants": {"user_id": 1}}]},
        {"tasks": [{"ticket_id": "T-1", "task_id": str(uuid.uuid4()), "participants": [{"user_id": True, "username": "a"}]}]},
        {"tasks": [{"ticket_id": "T-1", "task_id": str(uuid.uuid4()), "participants": [{"user_id": 1}]}]},
    ],
)
def test_the_sync_consumer_refuses_malformed_messages(kwargs):
    with pytest.raises(PermanentError, match="validation"):
        ticket_participants_sync.decode(kwargs)
