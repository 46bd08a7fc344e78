"""The API's own documentation, for those who may use the API: the OpenAPI document and its Swagger UI answer a
bearer token (JWT) or a session of Django's admin (``/admin/``, staff only) and nobody else."""
from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.renderers import JSONRenderer

from tts_common.http.auth import JWTAuthentication

AUTHENTICATION = {"authentication_classes": [JWTAuthentication, SessionAuthentication]}
SIGN_IN_PAGE = (
    "<!doctype html><title>Sign in to read the API documentation</title>"
    '<p>The API documentation is for signed-in staff: <a href="/admin/login/?next=/api/docs/">log in through '
    "/admin/</a>, then come back. Clients fetch <code>/api/schema/</code> with their bearer token.</p>"
)


class SchemaView(SpectacularAPIView):
    """The OpenAPI document (YAML unless JSON is asked for); its errors are the API's JSON error body, in any case."""

    def handle_exception(self, exc: Exception) -> Any:
        response = super().handle_exception(exc)
        self.request.accepted_renderer, self.request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return response


class ApiDocsView(SpectacularSwaggerView):
    """Swagger UI; to a browser without a session it answers 401 with a page that says where to sign in (Django's
    login, which the session authentication above reads), rather than a bare status line."""

    def handle_exception(self, exc: Exception) -> Any:
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            response = HttpResponse(SIGN_IN_PAGE, status=401, content_type="text/html; charset=utf-8")
            response["WWW-Authenticate"] = self.get_authenticate_header(self.request)
            return response
        return super().handle_exception(exc)


schema_view = SchemaView.as_view(**AUTHENTICATION)
docs_view = ApiDocsView.as_view(url_name="schema", **AUTHENTICATION)
