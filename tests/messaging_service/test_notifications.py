"""A new comment notifies the ticket's participants (notifications.create_inapp on the real broker), once each,
never its author, and only after commit; an @mention changes a participant's notice and reaches nobody else."""
from __future__ import annotations

import json

import pytest
from kombu import Connection

from messaging_service.services import mentioned_usernames
from tts_common import contracts

from .conftest import caller, share

pytestmark = pytest.mark.django_db


def published(broker: Connection) -> list[dict]:
    """Drain the in-app notification queue: each Celery message's kwargs."""
    channel = broker.default_channel
    messages = []
    while (message := channel.basic_get(contracts.INAPP_NOTIFICATION.queue, no_ack=True)) is not None:
        assert message.headers["task"] == contracts.INAPP_NOTIFICATION.task
        _args, kwargs, _embed = json.loads(message.body)
        messages.append(kwargs)
    return sorted(messages, key=lambda kwargs: kwargs["user_id"])


def test_mentions_are_parsed_like_usernames():
    text = "@ana, ping @bob.smith. mail x@carol.com or @@dave; @ana again; (@eve-1)"
    assert mentioned_usernames(text) == ["ana", "bob.smith", "eve-1"]


def test_participants_are_notified_and_mentions_of_anyone_else_are_ignored(
    api, broker, alice, bob, carol, django_capture_on_commit_callbacks
):
    dave = caller(104, "dave")
    task_id = share("T-notify", alice, bob, dave)
    text = "@carol @bob @alice @nobody see https://evil.example/x"
    with django_capture_on_commit_callbacks(execute=True):
        response = api(alice).post("/api/comments/", {"ticket_id": "T-notify", "text": text}, format="json")
    assert response.status_code == 201
    comment_id = response.json()["id"]

    def notice(user_id: int, mentioned: bool) -> dict:
        return {
            "user_id": user_id,
            "subject": "alice mentioned you on ticket T-notify" if mentioned else "New comment on ticket T-notify",
            "message": text,
            "notification_type": "comment_added",
            "related_task_id": task_id,
            "related_ticket_id": "T-notify",
            "metadata": {"comment_id": comment_id, "author_id": alice.id, "author_username": "alice",
                         "mentioned": mentioned},
        }  # fmt: skip

    # carol is mentioned but takes no part in the ticket: the text and its link never reach her.
    assert published(broker) == [notice(bob.id, True), notice(dave.id, False)]
    assert carol.id not in {n["user_id"] for n in published(broker)}


def test_nothing_is_published_before_commit(api, broker, alice, ticket, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        api(alice).post("/api/comments/", {"ticket_id": ticket, "text": "@bob hi"}, format="json")
    assert callbacks and published(broker) == []


def test_an_edit_notifies_only_the_participants_it_mentions_for_the_first_time(
    api, broker, alice, bob, carol, django_capture_on_commit_callbacks
):
    dave = caller(104, "dave")
    task_id = share("T-edit", alice, bob, dave)
    with django_capture_on_commit_callbacks(execute=True):
        created = api(alice).post("/api/comments/", {"ticket_id": "T-edit", "text": "@bob hi"}, format="json")
    comment_id = created.json()["id"]
    published(broker)  # the comment's own notifications

    with django_capture_on_commit_callbacks(execute=True):
        response = api(alice).patch(
            f"/api/comments/{comment_id}/", {"text": "@bob hi, and @dave @carol @alice too"}, format="json"
        )
    assert response.status_code == 200
    notified = [(n["user_id"], n["subject"], n["related_task_id"], n["metadata"]["mentioned"]) for n in published(broker)]
    assert notified == [(dave.id, "alice mentioned you on ticket T-edit", task_id, True)]

    with django_capture_on_commit_callbacks(execute=True):  # the same mentions again: nobody is new
        api(alice).patch(f"/api/comments/{comment_id}/", {"text": "@dave @bob @carol, fixed a typo"}, format="json")
    assert published(broker) == []
