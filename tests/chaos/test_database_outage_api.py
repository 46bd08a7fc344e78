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
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from tests.conftest import free_port
from tts_common.postgresql.base import CONNECT_BUDGET_SECONDS, CONNECT_RETRY_PAUSES_SECONDS

pytestmark = pytest.mark.slow

METHODS = ("get", "post", "put", "patch", "delete")
# None needs the database once its caller's account state is cached: the degraded modes in effect (it asks the
# auth service), the benchmarks' ceiling (an empty authenticated view), and the fixed lists of the auth audit's
# event types and of the role permissions.
NEED_NO_DATABASE = {"/api/status/", "/api/v1/ping/", "/api/v1/audit/event-types/", "/api/v1/permissions/"}


def plausible(parameter: dict[str, Any]) -> str:
    kind = parameter.get("schema", {})
    if kind.get("type") == "integer":
        return "1"
    return str(uuid.uuid4()) if kind.get("format") == "uuid" else "TX-1"


# Properties whose valid values depend on more than their type.
NAMED = {
    "time_zone": "UTC", "quiet_hours_start": "22:00:00", "quiet_hours_end": "07:00:00",
    "away_from": "2026-12-04T10:00:00+00:00", "away_until": "2026-12-05T10:00:00+00:00",
    "amount": "1299.00", "currency": "PHP",
}  # fmt: skip
LEFT_OUT = {"email_types"}  # the older form of email_modes: not both


def example(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> Any:
    """A value the schema accepts, as far as types, enums, formats and required properties go (whether the named
    rows exist is for the database to say)."""
    if "$ref" in schema:
        return example(components[schema["$ref"].rsplit("/", 1)[1]], components, depth)
    for combined in ("allOf", "oneOf", "anyOf"):
        if combined in schema:
            return example(schema[combined][0], components, depth)
    if "enum" in schema:
        return next(value for value in schema["enum"] if value is not None)
    kind, format_ = schema.get("type"), schema.get("format")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        # A request body gets every property it may set (a PATCH's or a "change at least one" body requires none);
        # nested objects only their required ones.
        names = properties if depth == 0 else schema.get("required", [])
        return {
            name: NAMED[name] if name in NAMED else example(properties[name], components, depth + 1)
            for name in names
            if name in properties and not properties[name].get("readOnly") and name not in LEFT_OUT
        }
    if kind == "array":
        return [example(schema.get("items", {}), components, depth + 1)] if schema.get("minItems") else []
    if kind in ("integer", "number"):
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return True
    return {
        "date-time": "2026-12-04T10:00:00+00:00", "date": "2026-12-04", "time": "09:00:00", "uuid": str(uuid.uuid4()),
        "email": "someone@example.com", "uri": "https://example.com/x",
    }.get(format_, "Plausible text")  # fmt: skip


def operations() -> list[tuple[str, str, Any]]:
    """(method, path with plausible values for its parameters, body) of every operation in the schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    found = []
    for template, item in schema["paths"].items():
        if template in NEED_NO_DATABASE:
            continue
        for method in METHODS:
            if method in item:
                operation = item[method]
                parameters = operation.get("parameters", [])
                values = {p["name"]: plausible(p) for p in parameters if p["in"] == "path"}
                path = re.sub(r"\{(\w+)\}", lambda match: values[match.group(1)], template)  # noqa: B023
                query = [f"{p['name']}={plausible(p)}" for p in parameters if p["in"] == "query" and p.get("required")]
                path += f"?{'&'.join(query)}" if query else ""
                content = operation.get("requestBody", {}).get("content", {}).get("application/json")
                found.append((method, path, example(content["schema"], components) if content else None))
    return found


def test_every_api_operation_answers_503_while_the_database_is_down(private_postgres, asgi_server):
    private_postgres.manage(
        "shell", "-c", "from tts_common.base.accounts import account_state_set; account_state_set(user_id=1, is_active=True)"
    )
    server = asgi_server(env={"DATABASE_URL": private_postgres.url})
    token = AccessToken()
    token["user_id"], token["username"], token["roles"], token["is_admin"] = 1, "admin", {}, True
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{server.url}/health/ready", timeout=10).status_code == 200
    # The server holds an open connection, which the stop breaks (a failover, as clients see it).
    assert requests.get(f"{server.url}/api/v2/notifications/inapp/", headers=headers, timeout=10).status_code == 200
    private_postgres.stop()

    def call(operation: tuple[str, str, Any]) -> tuple[str, str, int, float, Any, str | None]:
        method, path, body = operation
        started = time.monotonic()
        response = requests.request(method, f"{server.url}{path}", headers=headers, json=body, timeout=30)
        try:
            body = response.json()
        except ValueError:
            body = response.text[:200]
        return method, path, response.status_code, time.monotonic() - started, body, response.headers.get("Retry-After")

    # A validly signed refresh token, so that refreshing and signing out need the database (its revocation list).
    refresh = RefreshToken()
    refresh["user_id"] = 1
    swept = [
        (method, path, {"refresh_token": str(refresh)} if path.startswith("/token/") and "refresh_token" in (body or {}) else body)
        for method, path, body in operations()
    ]
    assert len(swept) > 50
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, swept))
    wrong = [(m, p, status, body) for m, p, status, _, body, _ in results if status != 503]
    assert not wrong, "\n".join(map(str, wrong))
    for method, path, _, _, body, retry_after in results:
        assert retry_after and int(retry_after) > 0, (method, path)
        assert body == {"status": 503, "code": "unavailable", "detail": body["detail"]}, (method, path, body)

    # One request alone: the three connection retries, then the answer, in about a second.
    _, _, status, seconds, _, _ = call(("get", "/api/v2/notifications/inapp/", None))
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
