"""The ASGI web server: how uvicorn is started, how many requests it runs at once, and what every WebSocket route
gets before its consumer.

- **Processes and threads**: ``WEB_WORKERS`` uvicorn processes (one per core: Python runs one thread at a time per
  process). Each runs an event loop for I/O and WebSockets, and Django runs each HTTP request's middleware and view
  (sync DRF views) in a thread of its own (:class:`RequestHandler`), which borrows a connection from the process's
  pool (tts_common.base.database). So
  :class:`ConcurrencyLimit` lets at most ``DB_POOL_MAX_SIZE`` requests into Django at once, as many as there are
  connections: more threads would only wait for one (and unbounded, as before the pool, each took a PostgreSQL
  backend of its own until ``max_connections`` ran out: 500s at 50 clients). Requests past that wait in the event
  loop, costing no thread, up to ``WEB_QUEUE_TIMEOUT_SECONDS``; then 503 with ``Retry-After``, the API's error body.
  Processes × connections per process + workers must stay under PostgreSQL's ``max_connections`` (README).

- **Origin**: a browser always sends one with a WebSocket handshake, and a page of any site may open a socket to
  us (cross-site WebSocket hijacking; no CORS applies). So an ``Origin`` that is present must be one of
  ``ALLOWED_HOSTS`` (with their rules: ``.example.com`` for its subdomains, any port) or of
  ``CORS_ALLOWED_ORIGINS`` (scheme, host and port exactly); anything else, ``null`` included, is refused before the
  handshake completes (HTTP 403). Clients that are not browsers send none and are let through: the JWT is what
  authenticates them.
- **Message size**: a message over :data:`WEBSOCKET_MAX_MESSAGE_BYTES` closes the socket with 1009 (message too
  big) unread. uvicorn refuses it first when started by :func:`uvicorn_argv` (``--ws-max-size``: it then never
  buffers more); the check here holds for a server started any other way.
"""
from __future__ import annotations

import asyncio
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import ParseResult

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from tts_common.base import metrics
from tts_common.base.logging import request_logger
from tts_common.http.api import DatabaseUnavailable, application_error_body, application_error_status

WEBSOCKET_MAX_MESSAGE_BYTES = 64 * 1024
WS_CLOSE_MESSAGE_TOO_BIG = 1009

ASGIApp = Any


def uvicorn_argv(host: str, port: int, *extra: str, workers: int | None = None) -> list[str]:
    """The command that serves ``tts.asgi:application`` (every start of the web server uses it) with ``workers``
    processes, by default this process's ``WEB_WORKERS`` (a caller starting a server of another size says so: the
    server's environment is read only by the server's own processes, after this command is built).

    ``--no-proxy-headers``: uvicorn would take ``X-Forwarded-For`` from loopback peers as the client's address; which
    proxies to believe is the application's ``NUM_PROXIES`` (login and API throttling), and nothing else."""
    return [
        sys.executable, "-m", "uvicorn", "tts.asgi:application", "--host", host, "--port", str(port),
        "--workers", str(settings.WEB_WORKERS if workers is None else workers),
        "--ws-max-size", str(WEBSOCKET_MAX_MESSAGE_BYTES), "--no-proxy-headers", *extra,
    ]  # fmt: skip


class RequestHandler(ASGIHandler):
    """Django's ASGI handler, except that a request's middleware and view run in one hop to a thread, and that the
    threads are reused.

    Django's own runs the middleware chain as coroutines as soon as one middleware is sync-only (WhiteNoise): each
    sync middleware hook and the view was a hop from the event loop to the request's thread and back (a dozen per
    request, each waking two threads), and each request got a new thread (a new single-thread executor, shut down by
    yet another new thread when it ended). Here the chain is Django's sync one, as under WSGI, called from the loop
    once; each request still runs its thread-sensitive code (the chain, the ``request_started`` receivers, the
    response's ``close()`` that returns the database connection) in one thread of its own, taken from the idle ones.
    At most as many exist as requests ran at once (:class:`ConcurrencyLimit` bounds them). Async views (the health
    checks) still run on the event loop, reached from the request's thread."""

    def __init__(self) -> None:  # not ASGIHandler's, which loads the middleware as coroutines
        self.load_middleware(is_async=False)
        self._idle_threads: list[ThreadPoolExecutor] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        thread = self._idle_threads.pop() if self._idle_threads else ThreadPoolExecutor(1, "request")
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self.handle(scope, receive, send)
        finally:
            self._idle_threads.append(thread)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        return await sync_to_async(self.get_response)(request)


class ConcurrencyLimit:
    """Lets at most ``limit`` HTTP requests into ``application`` at once (see the module's docstring); one that waits
    ``wait_seconds`` for its turn answers 503 with ``Retry-After``, counted and logged under the route ``overloaded``
    (it never reached Django's request log and metrics)."""

    def __init__(self, application: ASGIApp, limit: int, wait_seconds: float) -> None:
        self.application = application
        self.turns = asyncio.Semaphore(limit)
        self.wait_seconds = wait_seconds

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            await asyncio.wait_for(self.turns.acquire(), self.wait_seconds)
        except TimeoutError:
            await _send_busy(send)
            metrics.observe_request("overloaded", scope["method"], 503, self.wait_seconds)
            request_logger.warning(
                "request", extra={"operation": "overloaded", "path": scope["path"], "status": 503,
                                  "duration_ms": round(self.wait_seconds * 1000, 2)}
            )  # fmt: skip
            return
        try:
            await self.application(scope, receive, send)
        finally:
            self.turns.release()


async def _send_busy(send: Any) -> None:
    busy = DatabaseUnavailable()
    body = json.dumps(application_error_body(busy)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"retry-after", str(busy.retry_after).encode())]  # fmt: skip
    await send({"type": "http.response.start", "status": application_error_status(busy), "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BrowserOriginValidator(OriginValidator):  # type: ignore[misc]  # channels is untyped
    """Channels' validator, except that a missing ``Origin`` is accepted (Channels refuses it)."""

    def valid_origin(self, parsed_origin: ParseResult | None) -> bool:
        return parsed_origin is None or self.validate_origin(parsed_origin)


def allowed_origins() -> list[str]:
    # Django's own fallback when DEBUG is on and ALLOWED_HOSTS is empty.
    hosts = settings.ALLOWED_HOSTS or ([".localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
    return [*hosts, *settings.CORS_ALLOWED_ORIGINS]


class MessageSizeLimit:
    """Closes a socket with 1009 on a message over :data:`WEBSOCKET_MAX_MESSAGE_BYTES`; the application sees a
    disconnect instead of the message."""

    def __init__(self, application: ASGIApp) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def receive_within_limit() -> dict[str, Any]:
            message: dict[str, Any] = await receive()
            if message["type"] == "websocket.receive" and _size(message) > WEBSOCKET_MAX_MESSAGE_BYTES:
                await send({"type": "websocket.close", "code": WS_CLOSE_MESSAGE_TOO_BIG})
                return {"type": "websocket.disconnect", "code": WS_CLOSE_MESSAGE_TOO_BIG}
            return message

        await self.application(scope, receive_within_limit, send)


def _size(message: dict[str, Any]) -> int:
    if message.get("bytes") is not None:
        return len(message["bytes"])
    text = message.get("text") or ""
    # A character is at least one byte: encode only what might fit.
    return len(text) if len(text) > WEBSOCKET_MAX_MESSAGE_BYTES else len(text.encode())


def guarded_websockets(application: ASGIApp) -> ASGIApp:
    """``application`` (the WebSocket router) behind the Origin check and the message size limit."""
    return BrowserOriginValidator(MessageSizeLimit(application), allowed_origins())
