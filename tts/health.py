"""Liveness and readiness probes (no auth): readiness checks the database, the broker and the channel layer, and names
the kind of each one in use (the embedded default's differ from the real stack's)."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from tts.celery import app

CHECK_TIMEOUT_SECONDS = 3.0


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_broker() -> None:
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_SECONDS)
        conn.default_channel  # noqa: B018 (opens a channel: the broker is answering, not just the TCP port)


async def _check_channel_layer() -> None:
    layer = get_channel_layer()
    # The default prefix: channels-redis serves all of a process's channels through one receive loop, which only
    # reads channels of that prefix; another prefix timed out whenever a WebSocket held the loop.
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "health.ping"})
    await layer.receive(channel)


def _backends() -> dict[str, str]:
    """The kind of server behind each component: a name, never an address or a credential."""
    layer = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    return {
        "database": connection.display_name,
        "broker": "RabbitMQ" if app.conf.broker_url.startswith(("amqp", "pyamqp")) else "Filesystem (embedded)",
        "channel_layer": "Redis" if "redis" in layer.lower() else "In-memory (one process)",
    }


async def _timed(check: Callable[[], Awaitable[None]]) -> dict[str, object]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
        status = {"status": "ok"}
    except Exception as exc:  # any failure means "not ready"; the reason is reported
        status = {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:300] or type(exc).__name__}
    status["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return status


async def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


async def ready(request: HttpRequest) -> JsonResponse:
    checks = dict(
        zip(
            ("database", "broker", "channel_layer"),
            await asyncio.gather(
                _timed(sync_to_async(_check_database)),
                _timed(sync_to_async(_check_broker, thread_sensitive=False)),
                _timed(_check_channel_layer),
            ),
            strict=True,
        )
    )
    for name, backend in _backends().items():
        checks[name]["backend"] = backend
    failed = [name for name, result in checks.items() if result["status"] != "ok"]
    body = {"status": "unavailable" if failed else "ok", "failed": failed, "checks": checks}
    return JsonResponse(body, status=503 if failed else 200)
