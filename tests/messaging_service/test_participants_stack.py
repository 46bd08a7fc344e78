"""The comment attacks of issue 12 repeated on the real stack, as an outsider would make them: a ticket ingested from
RabbitMQ by a real workflow_api worker, its participants copied to messaging_service by a real messaging_service
worker (``messaging.ticket_participants.sync``), then real HTTP and a real WebSocket client against uvicorn."""
from __future__ import annotations

import json

import pytest
import requests
from kombu import Connection
from websockets.sync.client import connect

from messaging_service.models import TicketParticipant
from tests.conftest import wait_for
from tests.workflow_api.factories import two_step_setup
from tests.workflow_api.publishing import hdts  # noqa: F401 (fixture)
from tts_common import contracts
from workflow_api.models import Task, UserReplica

from .conftest import Caller, caller
from .test_feed import TIMEOUT, close_code, open_feed, recv_until_pong, ws_url

pytestmark = pytest.mark.django_db(transaction=True)

NOT_FOUND = {"status": 404, "code": "not_found", "detail": "Not found."}


def as_caller(user: UserReplica) -> Caller:
    return caller(user.user_id, user.username)


def participants(ticket_id: str) -> set[int]:
    return set(TicketParticipant.objects.filter(ticket_id=ticket_id).values_list("user_id", flat=True))


def comment_notices(broker: Connection) -> list[dict]:
    """Drain the in-app notification queue (no worker consumes it here): the ``comment_added`` ones' kwargs."""
    channel = broker.default_channel
    notices = []
    while (message := channel.basic_get(contracts.INAPP_NOTIFICATION.queue, no_ack=True)) is not None:
        _args, kwargs, _embed = json.loads(message.body)
        if kwargs["notification_type"] == "comment_added":
            notices.append(kwargs)
    return notices


def test_only_participants_and_admins_reach_a_tickets_comments(hdts, broker, celery_worker, asgi_server):  # noqa: F811
    _, people = two_step_setup()
    celery_worker(queues=contracts.SERVICE_QUEUES["workflow_api"], concurrency=1)
    celery_worker(queues=contracts.SERVICE_QUEUES["messaging_service"], concurrency=1)
    ticket_data = {"ticket_id": "HD-SECRET-1", "title": "Payroll server password reset", "category": "IT Support",
                   "sub_category": "Network", "priority": "high", "requester_email": "cfo@example.com"}  # fmt: skip
    hdts([{"ticket_data": ticket_data}])
    task = wait_for(lambda: Task.objects.filter(external_ticket_id="HD-SECRET-1", assigned_user__isnull=False).first())
    assignee, owner = as_caller(task.assigned_user), as_caller(task.owner)
    outsider, other = (as_caller(agent) for agent in people["agents"] if agent.user_id != assignee.id)
    admin = caller(1, "admin", is_admin=True)
    wait_for(lambda: participants("HD-SECRET-1") == {assignee.id, owner.id}, timeout=30, message="the copy")
    web = asgi_server()

    def comments(who: Caller, ticket_id: str = "HD-SECRET-1") -> requests.Response:
        return requests.get(f"{web.url}/api/comments/", params={"ticket_id": ticket_id}, headers=who.headers, timeout=TIMEOUT)

    def post(who: Caller, text: str, ticket_id: str = "HD-SECRET-1") -> requests.Response:
        return requests.post(f"{web.url}/api/comments/", json={"ticket_id": ticket_id, "text": text},
                             headers=who.headers, timeout=TIMEOUT)  # fmt: skip

    secret = post(assignee, "The temporary password is hunter2").json()
    assert comments(owner).json()["count"] == 1

    # Another agent of the same role, with no task on the ticket: every way in answers as if nothing existed.
    detail = f"{web.url}/api/comments/{secret['id']}/"
    attempts = {
        "list": comments(outsider),
        "detail": requests.get(detail, headers=outsider.headers, timeout=TIMEOUT),
        "post": post(outsider, "let me in"),
        "edit": requests.patch(detail, json={"text": "x"}, headers=outsider.headers, timeout=TIMEOUT),
        "delete": requests.delete(detail, headers=outsider.headers, timeout=TIMEOUT),
        "post on a ticket that does not exist": post(outsider, "hello?", ticket_id="HD-NO-SUCH"),
        "a comment that does not exist": requests.get(f"{detail[:-1]}0/", headers=outsider.headers, timeout=TIMEOUT),
    }
    assert {name: (r.status_code, r.json()) for name, r in attempts.items()} == {
        name: (404, NOT_FOUND) for name in attempts
    }
    with connect(ws_url(web, "HD-SECRET-1", token=outsider.token, last_id=0), open_timeout=TIMEOUT) as ws:
        assert close_code(ws) == 4404  # before any of the history
    assert comments(admin).json()["count"] == 1
    assert [c["text"] for c in comments(assignee).json()["results"]] == ["The temporary password is hunter2"]

    # Transferred to the outsider: they get in; the former assignee stays a participant.
    transfer = requests.post(f"{web.url}/tasks/{task.task_id}/actions/", json={"action": "transfer", "to_user": outsider.id},
                             headers=assignee.headers, timeout=TIMEOUT)  # fmt: skip
    assert transfer.status_code == 200, transfer.text
    wait_for(lambda: participants("HD-SECRET-1") == {assignee.id, owner.id, outsider.id}, timeout=30)
    assert comments(outsider).json()["count"] == 1
    with open_feed(web, "HD-SECRET-1", assignee, last_id=0) as ws:
        assert [e["comment"]["id"] for e in recv_until_pong(ws)] == [secret["id"]]

    # A mention reaches participants only: never an agent who cannot open the ticket.
    comment_notices(broker)
    assert post(assignee, f"@{other.username} @{outsider.username} see https://example.com/reset").status_code == 201
    notices = wait_for(lambda: comment_notices(broker) or None, timeout=30)
    notices += comment_notices(broker)
    assert sorted((n["user_id"], n["metadata"]["mentioned"]) for n in notices) == sorted(
        [(owner.id, False), (outsider.id, True)]
    )
    assert post(other, "@anyone?").status_code == 404


def test_every_ingested_ticket_gets_its_copy(hdts, broker, celery_worker):  # noqa: F811
    """Intake sends one message per batch; messaging_service's worker copies every ticket of it."""
    two_step_setup()
    hdts(
        {"ticket_data": {"ticket_id": f"HD-{i}", "title": "t", "category": "IT Support", "sub_category": "Network",
                         "priority": "low"}}
        for i in range(300)
    )  # fmt: skip
    celery_worker(queues=(*contracts.SERVICE_QUEUES["workflow_api"], *contracts.SERVICE_QUEUES["messaging_service"]))
    wait_for(lambda: TicketParticipant.objects.count() >= 600, timeout=60, message="the copies")
    copied = set(TicketParticipant.objects.values_list("ticket_id", "user_id"))
    expected = {(t, user) for t, *users in Task.objects.values_list("external_ticket_id", "owner_id", "assigned_user_id")
                for user in users}  # fmt: skip
    assert len(expected) == 600 and copied == expected
