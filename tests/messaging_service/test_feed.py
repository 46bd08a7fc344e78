"""The live comment feed on the real stack: uvicorn processes sharing the Redis channel layer, real HTTP, and a
real ``websockets`` client."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from urllib.parse import quote, urlencode

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.conftest import wait_for

from .conftest import Caller, make_token, share

# The servers read the tickets' participants the tests record: committed, so that they see them.
pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 10


def ws_url(server, ticket: str, **query: object) -> str:
    base = server.url.replace("http://", "ws://") + f"/ws/comments/{quote(ticket, safe='')}/"
    return base + (f"?{urlencode(query)}" if query else "")


@contextmanager
def open_feed(server, ticket: str, who: Caller, **query: object) -> Iterator[ClientConnection]:
    with connect(ws_url(server, ticket, token=who.token, **query), open_timeout=TIMEOUT) as ws:
        # The pong proves the connect handler has finished: the socket is in the group from here on.
        ws.send(json.dumps({"type": "ping"}))
        yield ws


def recv(ws: ClientConnection) -> dict:
    return json.loads(ws.recv(timeout=TIMEOUT))


def recv_until_pong(ws: ClientConnection) -> list[dict]:
    """Everything sent before the pong of :func:`open_feed` (the catch-up), in order."""
    events = []
    while (event := recv(ws))["type"] != "pong":
        events.append(event)
    return events


def close_code(ws: ClientConnection) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=TIMEOUT)
    return closed.value.rcvd.code


def post(server, who: Caller, ticket: str, text: str) -> dict:
    response = requests.post(f"{server.url}/api/comments/", json={"ticket_id": ticket, "text": text},
                             headers=who.headers, timeout=TIMEOUT)  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()


def test_comment_posted_through_one_process_reaches_a_socket_on_another(asgi_server, alice, bob):
    ticket = "HDTS/2024 #7 ünïcode"  # not a valid Channels group name as is: hashed
    share(ticket, alice, bob)
    web1, web2 = asgi_server(), asgi_server()
    with open_feed(web2, ticket, bob) as ws:
        assert recv_until_pong(ws) == []
        comment = post(web1, alice, ticket, "<b>hello</b> from web1")
        event = recv(ws)
    assert event["type"] == "comment_update" and event["action"] == "create"
    assert event["comment"] == comment and event["comment"]["text"] == "<b>hello</b> from web1"
    assert event["timestamp"].endswith("+00:00")
    with connect(ws_url(web2, ticket), open_timeout=TIMEOUT) as ws:
        assert close_code(ws) == 4401  # no token


def test_sockets_of_other_tickets_get_nothing(web_pair, alice, bob, ticket):
    web, _ = web_pair
    share(ticket + "a", alice, bob)
    share(ticket + "b", alice, bob)
    with open_feed(web, ticket + "a", bob) as ws_a, open_feed(web, ticket + "b", bob) as ws_b:
        recv_until_pong(ws_a), recv_until_pong(ws_b)
        post(web, alice, ticket + "b", "for b")
        assert recv(ws_b)["comment"]["text"] == "for b"
        ws_a.send(json.dumps({"type": "ping"}))
        assert recv(ws_a) == {"type": "pong"}  # nothing for the other ticket arrived before it


@pytest.mark.parametrize(
    "token", [None, "garbage", make_token(7, "late", lifetime=timedelta(seconds=-5))], ids=["none", "bad", "expired"]
)
def test_bad_missing_or_expired_token_is_refused_with_4401(web_pair, ticket, token):
    with connect(ws_url(web_pair[0], ticket, **({"token": token} if token else {})), open_timeout=TIMEOUT) as ws:
        assert close_code(ws) == 4401


def test_token_in_authorization_header(web_pair, alice, bob, ticket):
    web, _ = web_pair
    with connect(ws_url(web, ticket), additional_headers=bob.headers, open_timeout=TIMEOUT) as ws:
        ws.send(json.dumps({"type": "ping"}))
        assert recv(ws) == {"type": "pong"}
        post(web, alice, ticket, "via header")
        assert recv(ws)["comment"]["text"] == "via header"


def test_feed_closes_when_the_token_expires(web_pair, alice, ticket):
    short = Caller(alice.id, alice.username, make_token(alice.id, alice.username, lifetime=timedelta(seconds=2)))
    with open_feed(web_pair[0], ticket, short) as ws:
        assert recv(ws) == {"type": "pong"}
        assert close_code(ws) == 4401


def test_an_idle_feed_stays_open_and_live(web_pair, alice, bob, ticket):
    """Longer than channels-redis blocks in Redis (5 s): its read timeout must outlast that (settings)."""
    web1, web2 = web_pair
    with open_feed(web2, ticket, bob) as ws:
        assert recv(ws) == {"type": "pong"}
        time.sleep(7)
        post(web1, alice, ticket, "after a quiet spell")
        assert recv(ws)["comment"]["text"] == "after a quiet spell"


def test_edit_and_delete_are_broadcast(web_pair, alice, bob, ticket):
    web1, web2 = web_pair
    comment = post(web1, alice, ticket, "draft")
    with open_feed(web2, ticket, bob) as ws:
        recv_until_pong(ws)
        url = f"{web1.url}/api/comments/{comment['id']}/"
        assert requests.patch(url, json={"text": "final"}, headers=bob.headers, timeout=TIMEOUT).status_code == 403
        assert requests.patch(url, json={"text": "final"}, headers=alice.headers, timeout=TIMEOUT).status_code == 200
        edit = recv(ws)
        assert requests.delete(url, headers=bob.headers, timeout=TIMEOUT).status_code == 403
        assert requests.delete(url, headers=alice.headers, timeout=TIMEOUT).status_code == 204
        delete = recv(ws)
    assert (edit["action"], edit["comment"]["text"], edit["comment"]["id"]) == ("edit", "final", comment["id"])
    assert edit["comment"]["edited_at"]
    assert (delete["action"], delete["comment"]["text"], delete["comment"]["is_deleted"]) == ("delete", None, True)


def test_reconnect_with_last_id_catches_up_in_order_then_goes_live(web_pair, alice, bob, ticket):
    web1, web2 = web_pair
    with open_feed(web1, ticket, bob) as ws:
        recv_until_pong(ws)
        first = post(web1, alice, ticket, "seen live")
        assert recv(ws)["comment"]["id"] == first["id"]
    missed = [post(web1, alice, ticket, f"missed {i}")["id"] for i in range(3)]
    share(ticket + "-other", alice)
    post(web1, alice, ticket + "-other", "not this ticket")

    with open_feed(web2, ticket, bob, last_id=first["id"]) as ws:
        catch_up = recv_until_pong(ws)
        assert [(e["action"], e["comment"]["id"]) for e in catch_up] == [("create", i) for i in missed]
        live = post(web1, alice, ticket, "live again")
        assert recv(ws)["comment"]["id"] == live["id"]


def test_catch_up_has_no_gap_and_no_duplicate_while_comments_keep_coming(web_pair, alice, bob, ticket):
    """Comments are posted while clients reconnect: each client gets every id after its last_id exactly once, in
    order, whether it came in the catch-up or live (the group is joined before the catch-up query)."""
    web1, web2 = web_pair
    last_id = post(web1, alice, ticket, "before")["id"]
    posted: list[int] = []

    def keep_posting() -> None:
        for _ in range(30):
            posted.append(post(web1, alice, ticket, "during")["id"])

    writer = threading.Thread(target=keep_posting)
    with ExitStack() as sockets:
        writer.start()
        feeds = []
        for n in range(5):  # reconnects spread over the posting
            wait_for(lambda n=n: len(posted) >= 3 * n or not writer.is_alive(), timeout=TIMEOUT)
            feeds.append(sockets.enter_context(connect(ws_url(web2, ticket, token=bob.token, last_id=last_id))))
        writer.join()
        for ws in feeds:
            assert [recv(ws)["comment"]["id"] for _ in posted] == posted
            ws.send(json.dumps({"type": "ping"}))
            assert recv(ws) == {"type": "pong"}  # and nothing more (no duplicate) before it


@pytest.mark.parametrize(
    "frame, detail",
    [
        ("{not json", "Malformed JSON."),
        ("[1, 2]", 'A message must be a JSON object with a string "type".'),
        ('{"type": 5}', 'A message must be a JSON object with a string "type".'),
        ('{"text": "hi"}', 'A message must be a JSON object with a string "type".'),
        ('{"type": "create", "text": "hi"}', 'Unknown message type; supported: "ping".'),
        (b"\x00\x01", "Binary frames are not supported; send JSON text."),
    ],
)
def test_malformed_client_messages_get_an_error_and_the_connection_stays(web_pair, bob, ticket, frame, detail):
    with open_feed(web_pair[0], ticket, bob) as ws:
        recv_until_pong(ws)
        ws.send(frame)
        assert recv(ws) == {"type": "error", "detail": detail}
        ws.send(json.dumps({"type": "ping"}))
        assert recv(ws) == {"type": "pong"}


@pytest.mark.parametrize("suffix, query", [("", {"last_id": "abc"}), ("", {"last_id": "-3"}), ("x" * 129, {})])
def test_bad_feed_parameters_are_refused_with_4400(web_pair, bob, ticket, suffix, query):
    with connect(ws_url(web_pair[0], ticket + suffix, token=bob.token, **query), open_timeout=TIMEOUT) as ws:
        assert close_code(ws) == 4400


def test_only_participants_and_admins_get_the_feed_and_others_no_history(web_pair, alice, carol, admin, ticket):
    web, _ = web_pair
    post(web, alice, ticket, "history")
    for refused, where in ((carol, ticket), (admin, ticket + "-no-copy"), (alice, ticket + "-no-copy")):
        with connect(ws_url(web, where, token=refused.token, last_id=0), open_timeout=TIMEOUT) as ws:
            assert close_code(ws) == 4404  # and nothing was sent before the close
    for allowed in (alice, admin):
        with open_feed(web, ticket, allowed, last_id=0) as ws:
            assert [e["comment"]["text"] for e in recv_until_pong(ws)] == ["history"]
