"""Fixtures of the notification service tests: JWT clients, a stand-in auth service, a real SMTP server, a worker."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from notification_service import realtime
from notification_service.models import EmailDelivery
from notification_service.services import email_delivery, inapp
from notification_service.services.inapp import NotificationDraft
from tests.conftest import free_port
from tests.stubs import json_http_server
from tts_common import contracts
from tts_common.base.accounts import account_state_set
from tts_common.http import auth_client

NOTIFICATION_QUEUES = (*contracts.SERVICE_QUEUES["notification_service"], *contracts.SERVICE_QUEUES["notification_email"])


def make_token(user_id: int, *, is_admin: bool = False) -> str:
    account_state_set(user_id=user_id, is_active=True)  # as auth_service records for its users
    token = AccessToken()
    token["user_id"] = user_id
    token["username"] = f"user{user_id}"
    token["is_admin"] = is_admin
    token["roles"] = {}
    return str(token)


@pytest.fixture
def api() -> Callable[..., APIClient]:
    """``api(user_id, is_admin=False)``: an API client authenticated as that user."""

    def client(user_id: int, *, is_admin: bool = False) -> APIClient:
        api_client = APIClient()
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user_id, is_admin=is_admin)}")
        return api_client

    return client


# --- Stored notifications and their deliveries ------------------------------------------------------------------
def draft(user_id: int = 1, notification_type: str = "task_assignment", **fields) -> NotificationDraft:
    return NotificationDraft(
        user_id=user_id,
        notification_type=notification_type,
        subject=fields.pop("subject", "Subject"),
        message=fields.pop("message", "Message"),
        **fields,
    )


@pytest.fixture
def after_commit(monkeypatch, django_capture_on_commit_callbacks):
    """Runs on-commit work, recording what would be pushed and which deliveries would be queued."""
    pushed: list[int] = []
    queued: list[int] = []
    monkeypatch.setattr(realtime, "push_notifications", lambda ns: pushed.extend(n.id for n in ns))
    for module in (inapp, email_delivery):  # storing queues new emails; releasing and retrying queue old ones
        monkeypatch.setattr(module, "enqueue_email_deliveries", lambda delivery_ids: queued.extend(delivery_ids))

    def run(function, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return function(**kwargs)

    run.pushed, run.queued = pushed, queued
    return run


@pytest.fixture
def delivery_for(after_commit, auth_stub, settings, monkeypatch):
    """``delivery_for(user_id)``: a stored assignment notification with its pending email delivery."""
    settings.AUTH_SERVICE_URL = auth_stub.url
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    monkeypatch.setattr(auth_client, "RETRY_PAUSE_SECONDS", 0)
    cache.clear()

    def make(user_id: int, **fields) -> EmailDelivery:
        [notification] = after_commit(inapp.create_notifications, drafts=[draft(user_id, **fields)])
        return notification.email_delivery

    return make


# --- A stand-in for the auth service's user lookup ---------------------------------------------------------------
@dataclass
class AuthStub:
    url: str
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    down: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)

    def add_user(self, user_id: int, email: str, is_active: bool = True) -> None:
        self.users[user_id] = {"id": user_id, "username": f"user{user_id}", "email": email, "is_active": is_active}


@pytest.fixture
def auth_stub() -> Iterator[AuthStub]:
    """``GET /api/v1/users/{id}/`` as the auth service answers it; only admin tokens are accepted."""
    stub = AuthStub(url="")

    def handle(method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any) -> tuple[int, Any]:
        try:
            claims = dict(AccessToken(headers.get("Authorization", "").removeprefix("Bearer ")).payload)
        except Exception:
            claims = {}
        stub.requests.append({"path": path, "claims": claims})
        if stub.down:
            return 503, {"detail": "down"}
        if not claims.get("is_admin"):
            return 401, {"detail": "unauthorized"}
        parts = path.strip("/").split("/")
        user = None
        if len(parts) == 4 and parts[:3] == ["api", "v1", "users"] and parts[3].isdigit():
            user = stub.users.get(int(parts[3]))
        return (200, user) if user else (404, {"detail": "Not found."})

    with json_http_server(handle) as url:
        stub.url = url
        yield stub


# --- A real SMTP server ------------------------------------------------------------------------------------------
class SmtpServer:
    """aiosmtpd on a fixed loopback port, which can be started late (to play an SMTP outage first)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[Message] = []
        self._controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """Not started: call ``.start()`` (its port is reserved in ``.port`` for the worker's settings)."""
    server = SmtpServer()
    yield server
    server.stop()


# --- A notification worker pointed at the stubs --------------------------------------------------------------------
@pytest.fixture
def notification_worker(monkeypatch, auth_stub: AuthStub, smtp_server: SmtpServer, celery_worker):
    """``notification_worker(queues=...)`` starts a worker (by default on the notification and email queues) whose
    email goes to ``smtp_server`` and user lookups to ``auth_stub``, with email retries 0.05 * 2^n s."""
    for name, value in {
        "AUTH_SERVICE_URL": auth_stub.url,
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_server.port),
        "EMAIL_TIMEOUT": "5",
        "NOTIFICATION_EMAIL_RETRY_BASE_SECONDS": "0.05",
    }.items():
        monkeypatch.setenv(name, value)
    cache.clear()  # user lookups cached by earlier tests
    return lambda queues=NOTIFICATION_QUEUES: celery_worker(queues=queues)
