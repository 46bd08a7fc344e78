"""The OpenAPI document (drf-spectacular): valid OpenAPI 3.0, and every error an operation can give documented with
the one error body of tts_common.http.api (what schemathesis checks responses against, tests/test_api_fuzz.py)."""

from __future__ import annotations

from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from tests.workflow_api.factories import api_client

ERROR = {"$ref": "#/components/schemas/Error"}


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict[str, Any]:
    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in schema["paths"].items() for method, op in ops.items()]


def test_the_document_is_valid_openapi_3(schema: dict[str, Any]) -> None:
    validate_schema(schema)  # raises on any violation (a JSON Schema "type" list, say)


def test_every_error_response_has_the_error_body(schema: dict[str, Any]) -> None:
    for method, path, op in operations(schema):
        for code, response in op["responses"].items():
            if code >= "400":
                assert response["content"]["application/json"]["schema"] == ERROR, (method, path, code)


def test_errors_each_operation_can_give_are_documented(schema: dict[str, Any]) -> None:
    for method, path, op in operations(schema):
        codes = set(op["responses"])
        places = {parameter["in"] for parameter in op.get("parameters", [])}
        if op.get("security") and {} not in op["security"]:
            assert {"401", "403"} <= codes, (method, path)
        if "requestBody" in op:
            assert {"400", "411", "413", "415"} <= codes, (method, path)
        if "query" in places:
            assert "400" in codes, (method, path)
        if "path" in places or "page" in {parameter["name"] for parameter in op.get("parameters", [])}:
            assert "404" in codes, (method, path)
        assert "429" in codes, (method, path)  # every view is throttled


def test_hand_paginated_lists_are_documented_as_pages(schema: dict[str, Any]) -> None:
    for path in ("/api/comments/", "/api/v2/notifications/inapp/", "/api/v2/notifications/deliveries/"):
        ok = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        page = schema["components"]["schemas"][ok["$ref"].rsplit("/", 1)[1]]
        assert {"count", "count_is_estimate", "next", "previous", "results"} <= set(page["properties"]), path


@pytest.mark.django_db
def test_options_describes_a_view_without_a_queryset() -> None:
    response = api_client(is_admin=True).options("/api/v1/users/1/roles/")
    assert response.status_code == 200 and response.json()["name"] == "User Roles Api"
