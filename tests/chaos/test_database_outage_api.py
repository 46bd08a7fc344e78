"""Database connection lost (issue 15, degraded modes): with a private PostgreSQL stopped, every operation of the
OpenAPI schema answers 503 with Retry-After and the JSON error body — never a 500 — within about a second (3
connection retries), and readiness says so."""
from __future__ import annotations

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from django import db
from drf_spectacular.generators import SchemaGenerator
from rest_framework_simplejwt.tokens import AccessToken

from tests.conftest import free_port
from tts_common.postgresql.base import CONNECT_BUDGET_SECONDS, CONNECT_RETRY_PAUSES_SECONDS

pytestmark = pytest.mark.slow

METHODS = ("get", "post", "put", "patch", "delete")


def plausible(parameter: dict[str, Any]) -> str:
    kind = parameter.get("schema", {})
    if kind.get("type") == "integer":
        return "1"
    return str(uuid.uuid4()) if kind.get("format") == "uuid" else "TX-1"


def operations() -> list[tuple[str, str]]:
    """(method, path with plausible values for its parameters) of every operation in the schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    found = []
    for template, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                values = {p["name"]: plausible(p) for p in item[method].get("parameters", []) if p["in"] == "path"}
                found.append((method, re.sub(r"\{(\w+)\}", lambda match: values[match.group(1)], template)))  # noqa: B023
    return found


def test_every_api_operation_answers_503_while_the_database_is_down(private_postgres, asgi_server):
    private_postgres.manage(
        "shell", "-c", "from tts_common.accounts import account_state_set; account_state_set(user_id=1, is_active=True)"
    )
    server = asgi_server(env={"DATABASE_URL": private_postgres.url})
    token = AccessToken()
    token["user_id"], token["username"], token["roles"], token["is_admin"] = 1, "admin", {}, True
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{server.url}/health/ready", timeout=10).status_code == 200
    # The server holds an open connection, which the stop breaks (a failover, as clients see it).
    assert requests.get(f"{server.url}/api/v2/notifications/inapp/", headers=headers, timeout=10).status_code == 200
    private_postgres.stop()

    def call(operation: tuple[str, str]) -> tuple[str, str, int, float, Any, str | None]:
        method, path = operation
        started = time.monotonic()
        response = requests.request(
            method, f"{server.url}{path}", headers=headers, json={} if method != "get" else None, timeout=30
        )
        try:
            body = response.json()
        except ValueError:
            body = response.text[:200]
        return method, path, response.status_code, time.monotonic() - started, body, response.headers.get("Retry-After")

    swept = operations()
    assert len(swept) > 50
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, swept))
    wrong = [(m, p, status) for m, p, status, _, body, _ in results if status != 503]
    assert not wrong, "\n".join(map(str, wrong))
    for method, path, _, _, body, retry_after in results:
        assert retry_after and int(retry_after) > 0, (method, path)
        assert body == {"status": 503, "code": "unavailable", "detail": body["detail"]}, (method, path, body)

    # One request alone: the three connection retries, then the answer, in about a second.
    _, _, status, seconds, _, _ = call(("get", "/api/v2/notifications/inapp/"))
    assert status == 503 and sum(CONNECT_RETRY_PAUSES_SECONDS) <= seconds < CONNECT_BUDGET_SECONDS + 1
    ready = requests.get(f"{server.url}/health/ready", timeout=10)
    assert ready.status_code == 503 and ready.json()["failed"] == ["database"]


@pytest.mark.django_db(transaction=True)
def test_a_refused_connection_is_tried_three_more_times_within_a_second(monkeypatch):
    monkeypatch.setitem(db.connection.settings_dict, "PORT", str(free_port()))  # nothing listens there
    db.connection.close()
    attempts: list[float] = []
    connect = db.connection.get_new_connection

    def counted(params: dict[str, Any]) -> Any:
        attempts.append(time.monotonic())
        return connect(params)

    monkeypatch.setattr(db.connection, "get_new_connection", counted)
    try:
        with pytest.raises(db.OperationalError):
            db.connection.ensure_connection()
    finally:
        monkeypatch.undo()
        db.connection.close()
    assert len(attempts) == 1 + len(CONNECT_RETRY_PAUSES_SECONDS)
    assert attempts[-1] - attempts[0] < CONNECT_BUDGET_SECONDS
