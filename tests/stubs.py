"""Small local HTTP servers playing outside systems (auth, workflow API, AMS, BMS) over real HTTP, and a server that
hangs."""
from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

# (method, path, query, headers, JSON body or None) -> (status, JSON body)
Handle = Callable[[str, str, dict[str, list[str]], dict[str, str], Any], tuple[int, Any]]


def _decode_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    if content_type.startswith("application/x-www-form-urlencoded"):
        return {key: values[0] for key, values in parse_qs(raw.decode()).items()}
    return json.loads(raw)


@contextmanager
def json_http_server(handle: Handle) -> Iterator[str]:
    """Serve ``handle`` on a free loopback port in a thread; yields the base URL. Form bodies are passed as a dict."""

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = _decode_body(self.rfile.read(length), self.headers.get("Content-Type") or "")
            status, reply = handle(self.command, url.path, parse_qs(url.query), dict(self.headers), body)
            data = json.dumps(reply).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except ConnectionError:  # the client gave up waiting (a timeout test): nobody to answer
                pass

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815 (http.server API)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --- AMS and BMS -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    delay: float = 0.0  # seconds to wait before answering (past the client's timeout: a timeout)


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    at: float  # time.monotonic() when it arrived


class OutsideSystem:
    """A stub outside system at one path: answers with the scripted replies first (``then``), then with the
    standing one (``answer``); records every request to that path."""

    def __init__(self, path: str, reply: Reply) -> None:
        self.path = path
        self.reply = reply
        self.script: list[Reply] = []
        self.received: list[Received] = []
        self._lock = threading.Lock()

    def answer(self, status: int, body: Any, delay: float = 0.0) -> None:
        self.reply = Reply(status, body, delay)

    def then(self, *replies: Reply) -> None:
        with self._lock:
            self.script.extend(replies)

    @property
    def hits(self) -> int:
        return len(self.received)

    def __call__(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any):
        if path != self.path:
            return 404, {"detail": "not found"}
        with self._lock:
            self.received.append(Received(path, headers, body, time.monotonic()))
            reply = self.script.pop(0) if self.script else self.reply
        time.sleep(reply.delay)
        return reply.status, reply.body


class AmsStub(OutsideSystem):
    """AMS: ``POST /api/assets/reserve/`` with ``X-API-Key``; reserves by default."""

    def __init__(self, api_key: str = "ams-test-key") -> None:
        super().__init__("/api/assets/reserve/", Reply(201, {"reservation_id": "RES-1"}))
        self.api_key = api_key

    def __call__(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any):
        if path == self.path and headers.get("X-API-Key") != self.api_key:
            return 401, {"detail": "bad API key"}
        return super().__call__(method, path, query, headers, body)


class BmsStub(OutsideSystem):
    """BMS: OAuth2 client credentials at ``/oauth/token/``, ``POST /api/budget/check/`` with the bearer token (401
    for any token it did not issue or has revoked); approves by default."""

    TOKEN_PATH = "/oauth/token/"

    def __init__(self, client_id: str = "tts", client_secret: str = "bms-secret", token_seconds: int = 3600) -> None:
        super().__init__("/api/budget/check/", Reply(200, {"approved": True, "approval_id": "BUD-1", "reason": ""}))
        self.client_id, self.client_secret, self.token_seconds = client_id, client_secret, token_seconds
        self.tokens: set[str] = set()
        self.tokens_issued = 0

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    def __call__(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any):
        if path == self.TOKEN_PATH:
            form = body or {}
            if (form.get("grant_type"), form.get("client_id"), form.get("client_secret")) != (
                "client_credentials", self.client_id, self.client_secret,
            ):  # fmt: skip
                return 401, {"error": "invalid_client"}
            token = uuid.uuid4().hex
            self.tokens.add(token)
            self.tokens_issued += 1
            return 200, {"access_token": token, "token_type": "Bearer", "expires_in": self.token_seconds}
        if path == self.path and headers.get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
            return 401, {"detail": "invalid token"}
        return super().__call__(method, path, query, headers, body)


class HangingServer:
    """Accepts TCP connections and never answers: an SMTP server or an HTTP service that has hung."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.accepted = 0
        threading.Thread(target=self._hold, daemon=True).start()

    def _hold(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()
