"""A new comment notifies the ticket's participants and the users it @mentions (notifications.create_inapp on the
real broker), once each, never its author, and only after commit."""
from __future__ import annotations

import json

import pytest
from kombu import Connection

from messaging_service.services import mentioned_usernames
from tts_common import contracts

from .conftest import caller

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


def test_participants_and_mentioned_users_are_notified(
    api, upstream, settings, broker, alice, bob, ticket, django_capture_on_commit_callbacks
):
    settings.WORKFLOW_API_URL = settings.AUTH_SERVICE_URL = upstream.url
    task_id = upstream.add_task(ticket, assigned_user=bob.id, owner=alice.id)
    upstream.users = {"alice": alice.id, "bob": bob.id, "carol": 103}

    with django_capture_on_commit_callbacks(execute=True):
        response = api(alice).post(
            "/api/comments/", {"ticket_id": ticket, "text": "@carol @alice @nobody see this"}, format="json"
        )
    assert response.status_code == 201
    comment_id = response.json()["id"]

    assert published(broker) == [
        {
            "user_id": bob.id,
            "subject": f"New comment on ticket {ticket}",
            "message": "@carol @alice @nobody see this",
            "notification_type": "comment_added",
            "related_task_id": task_id,
            "related_ticket_id": ticket,
            "metadata": {"comment_id": comment_id, "author_id": alice.id, "author_username": "alice",
                         "mentioned": False},
        },
        {
            "user_id": 103,
            "subject": f"alice mentioned you on ticket {ticket}",
            "message": "@carol @alice @nobody see this",
            "notification_type": "comment_added",
            "related_task_id": task_id,
            "related_ticket_id": ticket,
            "metadata": {"comment_id": comment_id, "author_id": alice.id, "author_username": "alice",
                         "mentioned": True},
        },
    ]  # fmt: skip


def test_mentions_are_looked_up_with_a_service_token(
    api, upstream, settings, broker, alice, ticket, django_capture_on_commit_callbacks
):
    """Agents may not list users: the lookup must not depend on the commenter's own rights."""
    settings.AUTH_SERVICE_URL = upstream.url
    upstream.users = {"carol": 103}
    with django_capture_on_commit_callbacks(execute=True):
        api(alice).post("/api/comments/", {"ticket_id": ticket, "text": "@carol look"}, format="json")
    assert [n["user_id"] for n in published(broker)] == [103]
    assert upstream.tokens[-1]["username"] == "svc:messaging_service" and upstream.tokens[-1]["is_admin"]


def test_auth_service_down_mentions_resolve_to_known_commenters(
    api, upstream, settings, broker, alice, ticket, django_capture_on_commit_callbacks
):
    settings.AUTH_SERVICE_URL = upstream.url
    upstream.failing = True
    carol = caller(103, "carol")
    with django_capture_on_commit_callbacks(execute=True):
        api(carol).post("/api/comments/", {"ticket_id": "T-elsewhere", "text": "hello"}, format="json")
        response = api(alice).post(
            "/api/comments/", {"ticket_id": ticket, "text": "thanks @carol and @dave"}, format="json"
        )
    assert response.status_code == 201
    notified = published(broker)
    assert [(n["user_id"], n["metadata"]["mentioned"], n["related_task_id"]) for n in notified] == [(103, True, None)]


def test_nothing_is_published_before_commit(api, broker, alice, ticket, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        api(caller(103, "carol")).post("/api/comments/", {"ticket_id": ticket, "text": "hi"}, format="json")
        api(alice).post("/api/comments/", {"ticket_id": ticket, "text": "@carol hi"}, format="json")
    assert callbacks and published(broker) == []


def test_an_edit_notifies_only_the_users_it_mentions_for_the_first_time(
    api, upstream, settings, broker, alice, bob, ticket, django_capture_on_commit_callbacks
):
    settings.WORKFLOW_API_URL = settings.AUTH_SERVICE_URL = upstream.url
    task_id = upstream.add_task(ticket, assigned_user=bob.id, owner=alice.id)
    upstream.users = {"alice": alice.id, "bob": bob.id, "carol": 103, "dave": 104}
    with django_capture_on_commit_callbacks(execute=True):
        created = api(alice).post("/api/comments/", {"ticket_id": ticket, "text": "@carol hi"}, format="json")
    comment_id = created.json()["id"]
    published(broker)  # the comment's own notifications

    with django_capture_on_commit_callbacks(execute=True):
        response = api(alice).patch(
            f"/api/comments/{comment_id}/", {"text": "@carol hi, and @dave @alice too"}, format="json"
        )
    assert response.status_code == 200
    notified = [(n["user_id"], n["subject"], n["related_task_id"], n["metadata"]["mentioned"]) for n in published(broker)]
    assert notified == [(104, f"alice mentioned you on ticket {ticket}", task_id, True)]

    with django_capture_on_commit_callbacks(execute=True):  # the same mentions again: nobody is new
        api(alice).patch(f"/api/comments/{comment_id}/", {"text": "@dave @carol, fixed a typo"}, format="json")
    assert published(broker) == []
