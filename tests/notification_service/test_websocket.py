"""``/ws/notifications/`` against a real uvicorn server with the Redis channel layer, fed by a real worker."""
from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import outside_celery_app
from tts_common import contracts
from tts_common.base.accounts import account_state_set

from .conftest import make_token

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="pushing from a worker needs the Redis channel layer")


def ws_url(server: Any, query: str = "") -> str:
    return server.url.replace("http://", "ws://") + "/ws/notifications/" + query


async def close_code(url: str, **kwargs: Any) -> int:
    async with connect(url, **kwargs) as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        return ws.close_code


def expired_token() -> str:
    token = AccessToken()
    token["user_id"] = 21
    token.set_exp(lifetime=-timedelta(seconds=1))
    return str(token)


def test_missing_bad_and_expired_tokens_are_refused_with_4401(asgi_server):
    server = asgi_server()
    refresh = RefreshToken()
    refresh["user_id"] = 21

    async def run() -> list[int]:
        return [
            await close_code(ws_url(server)),
            await close_code(ws_url(server, "?token=garbage")),
            await close_code(ws_url(server, f"?token={expired_token()}")),
            await close_code(ws_url(server, f"?token={refresh}")),  # a refresh token is not an access token
            await close_code(ws_url(server), additional_headers={"Authorization": "Basic dXNlcjpwYXNz"}),
        ]

    assert asyncio.run(run()) == [4401] * 5


def test_the_socket_closes_with_4401_when_its_token_expires(asgi_server):
    server = asgi_server()
    account_state_set(user_id=21, is_active=True)  # as auth_service records for its users
    token = AccessToken()
    token["user_id"] = 21
    token.set_exp(lifetime=timedelta(seconds=4))

    async def run() -> tuple[float, int]:
        async with connect(ws_url(server, f"?token={token}")) as ws:
            opened = time.monotonic()
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 15)
            return time.monotonic() - opened, ws.close_code

    open_for, code = asyncio.run(run())
    assert code == 4401
    assert 0.5 < open_for < 10  # open until the token expired, not refused at once


def test_new_notifications_are_pushed_to_their_users_only(asgi_server, notification_worker):
    server = asgi_server()
    notification_worker()
    outside = outside_celery_app("outside")

    def publish(user_id: int, subject: str) -> None:
        outside.send_task(
            contracts.INAPP_NOTIFICATION.task,
            kwargs={
                "user_id": user_id, "subject": subject, "message": "m", "notification_type": "comment_added",
                "related_task_id": None, "related_ticket_id": "TX-1", "metadata": {},
            },
            queue=contracts.INAPP_NOTIFICATION.queue,
        )  # fmt: skip

    alice_token, bob_token = make_token(21), make_token(22)

    async def run() -> tuple[list[dict], list[dict], dict]:
        async with (
            connect(ws_url(server, f"?token={alice_token}")) as alice,
            connect(ws_url(server), additional_headers={"Authorization": f"Bearer {bob_token}"}) as bob,
        ):
            publish(21, "first for alice")
            publish(22, "for bob")
            publish(21, "second for alice")
            alice_events = [json.loads(await asyncio.wait_for(alice.recv(), 30)) for _ in range(2)]
            bob_events = [json.loads(await asyncio.wait_for(bob.recv(), 30))]
            # Nothing else arrives for bob; a client message is answered with an error, the socket stays open.
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(bob.recv(), 1)
            await bob.send("hello")
            error = json.loads(await asyncio.wait_for(bob.recv(), 10))
            return alice_events, bob_events, error

    try:
        alice_events, bob_events, error = asyncio.run(run())
    finally:
        outside.close()
    assert {e["type"] for e in alice_events + bob_events} == {"notification"}
    assert sorted(e["notification"]["subject"] for e in alice_events) == ["first for alice", "second for alice"]
    assert {e["notification"]["user_id"] for e in alice_events} == {21}
    assert max(e["unread_count"] for e in alice_events) == 2
    assert alice_events[0]["notification"]["related_ticket_id"] == "TX-1"
    assert [(e["notification"]["subject"], e["unread_count"]) for e in bob_events] == [("for bob", 1)]
    assert error["type"] == "error"
