"""OpenAPI (drf-spectacular): the Bearer JWT scheme of tts_common.http.auth.JWTAuthentication, and an AutoSchema that
documents the error responses every operation can give, in the one error shape of :mod:`tts_common.http.api`.

Imported once at app start-up (the scheme registers itself); ``DEFAULT_SCHEMA_CLASS`` names :class:`AutoSchema`.
"""
from __future__ import annotations

from typing import Any

from drf_spectacular import openapi
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework import serializers

from tts_common.base.hdts import TICKET_SCHEMA


class TTSJWTScheme(SimpleJWTScheme):  # type: ignore[no-untyped-call]  # drf-spectacular's __init_subclass__
    target_class = "tts_common.http.auth.JWTAuthentication"
    name = "jwtAuth"


def openapi_schema(schema: Any) -> Any:
    """A JSON Schema (draft-07) as OpenAPI 3.0 wants it: no ``$`` keywords, ``"type": [T, "null"]`` as
    ``"type": T, "nullable": true``."""
    if isinstance(schema, list):
        return [openapi_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: openapi_schema(value) for key, value in schema.items() if not key.startswith("$")}
    if isinstance(converted.get("type"), list):
        types = [t for t in converted["type"] if t != "null"]
        converted["type"] = types[0]
        if len(types) < len(schema["type"]):
            converted["nullable"] = True
    return converted


# The HDTS ticket's own JSON Schema (DESIGN §3), converted, documents the bodies validated against exactly that schema.
TICKET_OPENAPI = openapi_schema(TICKET_SCHEMA)
TICKET_BODY = {"application/json": TICKET_OPENAPI}


class ErrorSerializer(serializers.Serializer[Any]):
    """The body of every error response (tts_common.http.api.error_body)."""

    status = serializers.IntegerField()
    code = serializers.CharField()
    detail = serializers.CharField()
    # Field name → messages; nested for nested input (``{"steps": [{"name": ["..."]}]}``). Validation errors only.
    # A field named as the error body names it (Serializer's own ``errors`` is not used on this one).
    errors = serializers.DictField(child=serializers.JSONField(), required=False)  # type: ignore[assignment]

    class Meta:
        ref_name = "Error"


# Errors an operation can give by what it has, and what each means when the view says nothing more specific.
ERROR_DESCRIPTIONS = {
    400: "Invalid input: `errors` names each field and its problems.",
    401: "Missing, invalid or expired token.",
    403: "Not allowed for the caller.",
    404: "Not found (or not visible to the caller); for a list, a page past the end.",
    411: "A request body of undeclared length (chunked) is refused.",
    413: "The request body exceeds MAX_REQUEST_BODY_BYTES.",
    415: "Unsupported media type for the request body.",
    429: "Too many requests; see Retry-After.",
    503: (
        "The server is busy (no turn within WEB_QUEUE_TIMEOUT_SECONDS, or a statement ran past "
        "DB_STATEMENT_TIMEOUT_MS) or the database is unreachable; see Retry-After."
    ),
}


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema, plus each operation's possible error responses (with the error body's schema,
    also on errors a view declared with a description only), so that clients and fuzzers know every status."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        error_content = self._get_response_for_code(ErrorSerializer, "400")["content"]  # type: ignore[no-untyped-call]
        responses = operation["responses"]
        for code in sorted(self._error_codes(operation)):
            responses.setdefault(str(code), {"description": ERROR_DESCRIPTIONS[code]})
        for code, response in responses.items():
            if code >= "400" and "content" not in response:
                response["content"] = error_content
        return operation

    def _error_codes(self, operation: dict[str, Any]) -> set[int]:
        places = {parameter["in"] for parameter in operation.get("parameters", [])}
        security = operation.get("security", [])
        codes = {503}  # every operation reads or writes the database
        if "requestBody" in operation:
            codes |= {400, 411, 413, 415}
        if "query" in places:
            codes.add(400)
        if security and {} not in security:  # authentication required
            codes |= {401, 403}
        if "path" in places or (self._is_list_view() and self._get_paginator()):  # type: ignore[no-untyped-call]
            codes.add(404)
        if self.view.get_throttles():
            codes.add(429)
        return codes
