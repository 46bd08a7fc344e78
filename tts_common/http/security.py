"""HTTP hardening shared by every service: request body limits, headers for API responses and the service API key of
internal endpoints. Django's SecurityMiddleware, django-cors-headers and DRF's throttling (tts_common.http.throttling) do
the rest (see the settings)."""
from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware

from tts_common.http.api import json_error

# API responses are data, never a document: nothing may load, run or frame from them.
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def _refuse_body(request: HttpRequest) -> HttpResponse | None:
    """A 413 for a body over DATA_UPLOAD_MAX_MEMORY_SIZE, before anything reads it.

    Needed because DRF's parsers read the request stream directly, which Django does not bound (only ``request.body``
    and form parsing check the limit). A body of undeclared length (chunked) is refused too: neither bounds it.
    """
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    declared = request.headers.get("Content-Length")
    if declared is None:
        if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
            return json_error(request, 411, "length_required", "A request body needs a Content-Length header.")
        return None
    if not declared.isdigit():
        return json_error(request, 400, "invalid_content_length", "Content-Length must be a number of bytes.")
    if int(declared) > limit:
        return json_error(request, 413, "request_too_large", f"The request body exceeds {limit} bytes.")
    return None


def _harden(response: HttpResponse) -> HttpResponse:
    """Non-HTML responses (the JSON API) get a deny-all CSP and are not cached; pages keep their own policy."""
    if not response.get("Content-Type", "").startswith("text/html"):
        response.headers.setdefault("Content-Security-Policy", API_CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@sync_and_async_middleware
def ApiHardeningMiddleware(get_response: Callable[[HttpRequest], Any]) -> Callable[[HttpRequest], Any]:
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponse:
            return _harden(_refuse_body(request) or await get_response(request))

        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponse:
        return _harden(_refuse_body(request) or get_response(request))

    return middleware


View = TypeVar("View", bound=Callable[..., HttpResponse])


def require_service_key(view: View) -> View:
    """Internal endpoints answer only ``Authorization: Bearer <SERVICE_API_KEY>``, and no one while it is unset."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        key = settings.SERVICE_API_KEY
        if not key:
            return json_error(request, 403, "service_key_unset", "Internal endpoint: SERVICE_API_KEY is not set.")
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), key.encode()):
            response = json_error(request, 401, "not_authenticated", "A service API key is required.")
            response["WWW-Authenticate"] = 'Bearer realm="tts-internal"'
            return response
        return view(request, *args, **kwargs)

    return guarded  # type: ignore[return-value]
