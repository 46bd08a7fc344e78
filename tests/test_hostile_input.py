"""Hostile input against a real server, as an outsider sends it: JSON nested to crash the parser (HTTP bodies and
WebSocket frames), oversized WebSocket messages, and WebSocket handshakes from other sites' pages."""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from messaging_service.models import TicketReplica
from tests.conftest import ServerProcess
from tts_common.base.json_input import MAX_DEPTH
from tts_common.http.web_server import WEBSOCKET_MAX_MESSAGE_BYTES

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 10
DEEP = "[" * 100_000


def nested(levels: int) -> Any:
    """``levels`` lists, one inside the other."""
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


def assert_json_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["status"] == status and body["code"] == code, body
    return body


def assert_still_serving(server: ServerProcess) -> None:
    assert requests.get(f"{server.url}/health/live", timeout=TIMEOUT).status_code == 200
    # A JSON view that parses a body, without counting as a failed login (which would lock the address out).
    refresh = requests.post(f"{server.url}/token/refresh/", json={"refresh_token": "not-a-token"}, timeout=TIMEOUT)
    assert_json_error(refresh, 401, refresh.json()["code"])


# --- JSON bodies ---------------------------------------------------------------------------------------------------
def test_deeply_nested_json_is_a_400_on_the_anonymous_login_and_the_server_keeps_serving(asgi_server):
    server = asgi_server()
    response = requests.post(
        f"{server.url}/token/", data=DEEP, headers={"Content-Type": "application/json"}, timeout=TIMEOUT
    )
    body = assert_json_error(response, 400, "parse_error")
    assert f"nested deeper than {MAX_DEPTH} levels" in body["detail"]
    assert_still_serving(server)


def test_nesting_is_refused_past_the_limit_and_parsed_up_to_it(asgi_server):
    """Just past the limit the parser refuses the body; at the limit it parses, and the view's validation answers."""
    url = asgi_server().url + "/token/"
    too_deep = requests.post(url, json={"username": nested(MAX_DEPTH), "password": "x"}, timeout=TIMEOUT)
    assert_json_error(too_deep, 400, "parse_error")
    at_limit = requests.post(url, json={"username": nested(MAX_DEPTH - 1), "password": "x"}, timeout=TIMEOUT)
    assert "username" in assert_json_error(at_limit, 400, "invalid")["errors"]


def test_deeply_nested_json_is_a_400_on_an_authenticated_endpoint(asgi_server, make_token):
    server = asgi_server()
    headers = {"Authorization": f"Bearer {make_token(user_id=5)}", "Content-Type": "application/json"}
    url = f"{server.url}/api/v2/notifications/preferences/"
    for body in (DEEP, json.dumps({"email_modes": nested(MAX_DEPTH)})):
        assert_json_error(requests.put(url, data=body, headers=headers, timeout=TIMEOUT), 400, "parse_error")
    assert requests.get(url, headers=headers, timeout=TIMEOUT).status_code == 200
    assert_still_serving(server)


# --- WebSockets ------------------------------------------------------------------------------------------------------
@pytest.fixture
def feed(make_token) -> Callable[..., ClientConnection]:
    """``feed(server, origin=None)``: an admin's comment feed of a fresh ticket (admins see every ticket that
    messaging_service has a copy of)."""
    token = make_token(user_id=1, is_admin=True)

    def open_feed(server: ServerProcess, origin: str | None = None) -> ClientConnection:
        ticket_id = f"T-{uuid.uuid4().hex[:12]}"
        TicketReplica.objects.create(ticket_id=ticket_id, task_id=uuid.uuid4())
        url = server.url.replace("http://", "ws://") + f"/ws/comments/{ticket_id}/?token={token}"
        return connect(url, origin=origin, open_timeout=TIMEOUT, max_size=None)  # type: ignore[arg-type]

    return open_feed


def recv(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=TIMEOUT))


def assert_open(ws: ClientConnection) -> None:
    ws.send(json.dumps({"type": "ping"}))
    assert recv(ws) == {"type": "pong"}


def close_code(ws: ClientConnection) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=TIMEOUT)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


def test_a_deeply_nested_frame_gets_an_error_event_and_the_socket_stays_open(asgi_server, feed):
    server = asgi_server()
    with feed(server) as ws:
        assert_open(ws)
        ws.send("[" * 30_000)  # under the message size limit
        assert recv(ws) == {"type": "error", "detail": "Malformed JSON."}
        assert_open(ws)
        ws.send(json.dumps({"type": "ping", "extra": nested(MAX_DEPTH)}))  # parses, but one level too deep
        assert recv(ws) == {"type": "error", "detail": "Malformed JSON."}
        ws.send(json.dumps({"type": "ping", "extra": nested(MAX_DEPTH - 1)}))
        assert recv(ws) == {"type": "pong"}


def padded_ping(size: int) -> str:
    """A ping of exactly ``size`` bytes of UTF-8, about half as many characters."""
    base = len(json.dumps({"type": "ping", "pad": ""}).encode())
    pad, odd = divmod(size - base, 2)
    return json.dumps({"type": "ping", "pad": "é" * pad + "x" * odd}, ensure_ascii=False)


@pytest.mark.parametrize(
    "uvicorn_args",
    [(), ("--ws-max-size", str(16 * 1024 * 1024))],
    ids=["as-started-here", "server-allowing-16MiB"],  # the second is refused by the application's own check
)
def test_a_message_over_64_kib_closes_the_socket_with_1009(asgi_server, feed, uvicorn_args):
    server = asgi_server(uvicorn_args=uvicorn_args)
    at_limit = padded_ping(WEBSOCKET_MAX_MESSAGE_BYTES)
    assert len(at_limit.encode()) == WEBSOCKET_MAX_MESSAGE_BYTES and len(at_limit) < WEBSOCKET_MAX_MESSAGE_BYTES
    over_limit = padded_ping(WEBSOCKET_MAX_MESSAGE_BYTES + 2)
    with feed(server) as ws:
        ws.send(at_limit)
        assert recv(ws) == {"type": "pong"}
        ws.send(over_limit)  # fewer characters than the limit, more bytes
        assert close_code(ws) == 1009
    for frame in ("x" * 70 * 1024, b"\x00" * 70 * 1024):
        with feed(server) as ws:
            ws.send(frame)
            assert close_code(ws) == 1009
    with feed(server) as ws:
        assert_open(ws)


def handshake_status(open_socket: Callable[[], ClientConnection]) -> int:
    """101 if the handshake succeeded (the socket then answers), else the HTTP status of the refusal."""
    try:
        with open_socket():
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


def test_a_browser_origin_must_be_an_allowed_host_and_a_missing_one_is_accepted(asgi_server, feed):
    server = asgi_server()
    for origin in (None, f"http://127.0.0.1:{server.port}", "http://localhost:3000", "https://localhost"):
        with feed(server, origin=origin) as ws:
            assert_open(ws)
    for origin in ("https://evil.example", "http://127.0.0.1.evil.example", "null", "https://app.example.com"):
        assert handshake_status(lambda origin=origin: feed(server, origin=origin)) == 403, origin


def test_every_websocket_route_checks_the_origin_and_the_message_size(asgi_server, make_token):
    server = asgi_server()
    url = server.url.replace("http://", "ws://") + f"/ws/notifications/?token={make_token(user_id=5)}"
    assert handshake_status(lambda: connect(url, origin="https://evil.example", open_timeout=TIMEOUT)) == 403  # type: ignore[arg-type]
    with connect(url, origin=f"http://127.0.0.1:{server.port}", open_timeout=TIMEOUT) as ws:  # type: ignore[arg-type]
        ws.send(json.dumps({"type": "ping"}))
        assert recv(ws)["type"] == "error"  # push-only, but open
        ws.send("x" * 70 * 1024)
        assert close_code(ws) == 1009


def test_an_origin_of_cors_allowed_origins_is_accepted(asgi_server, feed):
    server = asgi_server(env={"CORS_ALLOWED_ORIGINS": "https://app.example.com"})
    with feed(server, origin="https://app.example.com") as ws:
        assert_open(ws)
    for origin in ("https://app.example.com:8443", "http://app.example.com", "https://evil.example"):
        assert handshake_status(lambda origin=origin: feed(server, origin=origin)) == 403, origin
