"""Fixtures of the ticket service tests: a signing secret for every process, JWTs, and reading the ticket queue."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kombu import Connection

from tts_common import contracts

SECRET = "test-hdts-secret"


@pytest.fixture(autouse=True)
def signing_secret(monkeypatch: pytest.MonkeyPatch, settings: Any) -> str:
    """Set before the server and worker fixtures copy the environment (autouse fixtures are set up first)."""
    monkeypatch.setenv("HDTS_SIGNING_SECRET", SECRET)
    settings.HDTS_SIGNING_SECRET = SECRET
    return SECRET



@pytest.fixture
def hdts_token(make_token: Callable[..., str]) -> str:
    return make_token(roles={"HDTS": ["Integration"]})


def drain_ticket_queue(conn: Connection) -> list[dict[str, Any]]:
    """Every message waiting in TICKET_TASKS_PRODUCTION (removed), as ``{task, args, kwargs}`` of Celery protocol 2."""
    queue = contracts.declared_queue(contracts.RECEIVE_TICKET.queue)(conn.default_channel)
    messages = []
    while (message := queue.get(no_ack=True)) is not None:
        args, kwargs, _embed = message.decode()
        messages.append({"task": message.headers["task"], "args": args, "kwargs": kwargs})
    return messages
