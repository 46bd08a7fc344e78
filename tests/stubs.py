"""Small local HTTP servers playing outside systems (auth, workflow API, AMS, BMS) over real HTTP, and a server that
hangs. The AMS and BMS fakes check every request strictly against issue #15's contracts."""
from __future__ import annotations

import base64
import itertools
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
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
    # Polled every 20 ms for shutdown: at the default half second, each test using a fake waited that long to end.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --- AMS and BMS -------------------------------------------------------------------------------------------------
# The request bodies issue #15 specifies, field -> type; the fakes refuse anything else with a 400.
AMS_REQUEST_FIELDS: dict[str, type] = {
    "asset_id": str, "requester_id": int, "task_id": str, "duration_days": int, "notes": str,
}  # fmt: skip
BMS_REQUEST_FIELDS: dict[str, type] = {
    "department": str, "amount": str, "currency": str, "category": str, "requester_id": int, "justification": str,
}  # fmt: skip
_AMOUNT = re.compile(r"\d+\.\d{2,}")
_CURRENCY = re.compile(r"[A-Z]{3}")


def shape_errors(body: Any, fields: dict[str, type]) -> dict[str, str]:
    """What makes ``body`` other than exactly ``fields`` (unknown, missing, wrong type: bool is no int)."""
    if not isinstance(body, dict):
        return {"non_field_errors": "the body must be a JSON object"}
    errors = {name: "unknown field" for name in body if name not in fields}
    for name, kind in fields.items():
        if name not in body:
            errors[name] = "required"
        elif type(body[name]) is not kind:
            errors[name] = f"must be {kind.__name__}"
    return errors


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
    """A fake outside system at one path. Requests it would refuse (:meth:`refusal`: bad credentials, a body not in
    the specified shape) are answered so and kept in ``refused``; the others get the scripted replies first
    (``then``), then the standing one (``answer``), else the system's own answer to the request
    (:meth:`respond`). Records every request to that path."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.reply: Reply | None = None
        self.script: list[Reply] = []
        self.received: list[Received] = []
        self.refused: list[tuple[int, Any]] = []
        self._lock = threading.Lock()

    def answer(self, status: int, body: Any, delay: float = 0.0) -> None:
        self.reply = Reply(status, body, delay)

    def heal(self) -> None:
        """Back to the system's own answers."""
        self.reply = None

    def then(self, *replies: Reply) -> None:
        with self._lock:
            self.script.extend(replies)

    @property
    def hits(self) -> int:
        return len(self.received)

    @property
    def bodies(self) -> list[Any]:
        return [received.body for received in self.received]

    def refusal(self, headers: dict[str, str], body: Any) -> tuple[int, Any] | None:
        return None

    def respond(self, body: Any) -> Reply:
        raise NotImplementedError

    def __call__(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any):
        if path != self.path or method != "POST":
            return 404, {"detail": "not found"}
        refusal = self.refusal(headers, body)
        with self._lock:
            self.received.append(Received(path, headers, body, time.monotonic()))
            if refusal is not None:
                self.refused.append(refusal)
                return refusal
            reply = self.script.pop(0) if self.script else self.reply
        reply = reply or self.respond(body)
        time.sleep(reply.delay)
        return reply.status, reply.body


class AmsStub(OutsideSystem):
    """AMS: ``POST /api/assets/reserve/`` with ``X-API-Key`` (401 otherwise) and exactly issue #15's body (400
    otherwise). Reserves any asset but those in ``unavailable`` (asset id -> the alternatives it offers)."""

    def __init__(self, api_key: str = "ams-test-key") -> None:
        super().__init__("/api/assets/reserve/")
        self.api_key = api_key
        self.unavailable: dict[str, list[str]] = {}
        self._reservations = itertools.count(1)

    def refusal(self, headers: dict[str, str], body: Any) -> tuple[int, Any] | None:
        if headers.get("X-API-Key") != self.api_key:
            return 401, {"detail": "bad API key"}
        errors = shape_errors(body, AMS_REQUEST_FIELDS)
        if not errors and body["duration_days"] < 1:
            errors["duration_days"] = "must be at least 1"
        return (400, {"error": "Invalid request", "fields": errors}) if errors else None

    def respond(self, body: dict[str, Any]) -> Reply:
        asset_id = body["asset_id"]
        if asset_id in self.unavailable:
            return Reply(400, {"error": "Asset not available", "available_alternatives": self.unavailable[asset_id]})
        valid_until = datetime.now(UTC) + timedelta(days=body["duration_days"])
        return Reply(200, {
            "reservation_id": f"RES-{next(self._reservations)}",
            "status": "confirmed",
            "asset_id": asset_id,
            "valid_until": valid_until.isoformat(timespec="seconds"),
            "asset_details": {"name": f"Laptop {asset_id}", "model": "ThinkPad T14 Gen 5", "serial": f"SN-{asset_id}"},
        })  # fmt: skip


class BmsStub(OutsideSystem):
    """BMS: OAuth 2.0 client credentials at ``/oauth/token/`` (the client by HTTP Basic), then ``POST
    /api/budget/check/`` with a bearer token it issued and has not revoked or seen expire (401 otherwise) and
    exactly issue #15's body (400 otherwise). Approves amounts up to ``available`` in any currency, rejects the rest."""

    TOKEN_PATH = "/oauth/token/"

    def __init__(self, client_id: str = "tts", client_secret: str = "bms-secret", token_seconds: int = 3600) -> None:
        super().__init__("/api/budget/check/")
        self.client_id, self.client_secret, self.token_seconds = client_id, client_secret, token_seconds
        self.available = Decimal("100000.00")
        self.tokens: dict[str, float] = {}  # token -> when it expires (time.monotonic())
        self.tokens_issued = 0
        self._approvals = itertools.count(1)

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    def _token(self, headers: dict[str, str], form: Any) -> tuple[int, Any]:
        basic = "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if headers.get("Authorization") != basic:
            return 401, {"error": "invalid_client"}
        if form != {"grant_type": "client_credentials"}:
            return 400, {"error": "unsupported_grant_type"}
        token = uuid.uuid4().hex
        self.tokens[token] = time.monotonic() + self.token_seconds
        self.tokens_issued += 1
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": self.token_seconds}

    def __call__(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any):
        if path == self.TOKEN_PATH and method == "POST":
            return self._token(headers, body)
        return super().__call__(method, path, query, headers, body)

    def refusal(self, headers: dict[str, str], body: Any) -> tuple[int, Any] | None:
        token = headers.get("Authorization", "").removeprefix("Bearer ")
        if self.tokens.get(token, 0.0) <= time.monotonic():
            return 401, {"detail": "invalid or expired token"}
        errors = shape_errors(body, BMS_REQUEST_FIELDS)
        if "amount" not in errors and not _AMOUNT.fullmatch(body["amount"]):
            errors["amount"] = "must be a decimal string with two places or more"
        if "currency" not in errors and not _CURRENCY.fullmatch(body["currency"]):
            errors["currency"] = "must be an ISO 4217 code"
        return (400, {"detail": "Invalid request", "errors": errors}) if errors else None

    def respond(self, body: dict[str, Any]) -> Reply:
        amount = Decimal(body["amount"])
        if amount > self.available:
            return Reply(200, {
                "approved": False,
                "reason": f"Exceeds the {body['department']} budget",
                "available_amount": f"{self.available:.2f}",
                "rejection_code": "INSUFFICIENT_FUNDS",
            })  # fmt: skip
        return Reply(200, {
            "approved": True,
            "budget_line_id": f"BL-{body['department'] or 'GEN'}-2026",
            "remaining_balance": f"{self.available - amount:.2f}",
            "approval_id": f"BUD-{next(self._approvals)}",
            "approved_by": "bms-auto",
            "approved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        })  # fmt: skip


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
