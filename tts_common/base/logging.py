"""Structured JSON logs: one object per line with timestamp, level, service, operation, duration_ms, status, ids.

``correlation_id`` follows a request (header ``X-Request-ID``) or a message through the services.
"""
from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware
from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

from tts_common.base import metrics

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
# The message header that carries it. Not "correlation_id": Celery uses that name for its own AMQP property (the task
# id), which overwrites a header of that name before a task can read it.
CORRELATION_HEADER = "tts_correlation_id"
# What a client may choose as its X-Request-ID (it is logged and sent on in every message); anything else is replaced.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


@contextmanager
def bound_correlation_id(value: str | None) -> Iterator[None]:
    """Log and publish under ``value`` inside the block, then restore the id that was current."""
    token = correlation_id.set(value)
    try:
        yield
    finally:
        correlation_id.reset(token)


SERVICES = ("auth_service", "workflow_api", "notification_service", "messaging_service", "ticket_service")


class JsonFormatter(BaseJsonFormatter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("timestamp", True)
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        super().__init__("%(levelname)s %(name)s %(message)s", *args, **kwargs)


class ContextFilter(logging.Filter):
    """Adds ``service`` (from the logger's package) and the current ``correlation_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "service"):
            package = record.name.split(".", 1)[0]
            record.service = package if package in SERVICES else "tts"
        if not hasattr(record, "correlation_id"):
            record.correlation_id = correlation_id.get()
        return True


request_logger = logging.getLogger("tts_common.request")


def _log_request(request: HttpRequest, response: HttpResponse, started: float) -> None:
    match = getattr(request, "resolver_match", None)
    user = getattr(request, "user", None)
    duration = time.perf_counter() - started
    # The route template, never the path: one series per route, however many ids are requested.
    metrics.observe_request(f"/{match.route}" if match else "unmatched", request.method or "", response.status_code, duration)
    request_logger.info(
        "request",
        extra={
            "operation": f"{request.method} {match.route if match else request.path}",
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round(duration * 1000, 2),
            "user_id": getattr(user, "id", None) if getattr(user, "is_authenticated", False) else None,
        },
    )


def _begin(request: HttpRequest) -> str:
    request_id = request.headers.get("X-Request-ID", "")
    if not _REQUEST_ID.fullmatch(request_id):
        request_id = uuid.uuid4().hex
    correlation_id.set(request_id)
    return request_id


@sync_and_async_middleware
def RequestLogMiddleware(get_response: Callable[[HttpRequest], Any]) -> Callable[[HttpRequest], Any]:
    """Logs every request as one JSON line and echoes its correlation id in ``X-Request-ID``."""
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponse:
            started, request_id = time.perf_counter(), _begin(request)
            response: HttpResponse = await get_response(request)
            response["X-Request-ID"] = request_id
            _log_request(request, response, started)
            return response

        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponse:
        started, request_id = time.perf_counter(), _begin(request)
        response: HttpResponse = get_response(request)
        response["X-Request-ID"] = request_id
        _log_request(request, response, started)
        return response

    return middleware
