"""API conventions every service shares: pagination, one JSON error shape, CSV exports.

Errors: ``{"status": 400, "code": "invalid", "detail": "...", "errors": {"field": ["message"]}}``
(``errors`` only on validation failures). Business code raises :mod:`tts_common.base.errors`; :data:`HTTP_STATUS` is
where each becomes a status, :func:`exception_handler` where it becomes a response.
"""
from __future__ import annotations

import csv
import io
from typing import Any

from django import db
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions, parsers, renderers
from rest_framework.metadata import SimpleMetadata
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from tts_common.base import errors, json_input
from tts_common.http.pagination import Pagination as Pagination  # every service imports it from here


class Metadata(SimpleMetadata):
    """OPTIONS answers the view's name, description and media types; what each method takes is in /api/schema/.

    DRF's own would also describe "actions" from the view's one serializer class (not what each method takes) by
    calling ``get_object()``, which views that read through selectors do not implement: a 500.
    """

    def determine_actions(self, request: Any, view: Any) -> dict[str, Any]:
        return {}


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing a body nested past :data:`.json_input.MAX_DEPTH` with a 400 (DRF's own lets the
    parser's ``RecursionError`` through: a 500). DRF's own already refuses NaN and Infinity."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
            json_input.check_decoded(data)
        except RecursionError:
            raise exceptions.ParseError(f"JSON parse error - {json_input.JSONTooDeep()}") from None
        except ValueError as exc:  # check_decoded's (DRF turns its own parse errors into ParseError)
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        return data


def paginated_response(*, request: Any, view: Any, queryset: Any, serializer_class: type[Serializer[Any]]) -> Response:
    """One page of ``queryset``, serialised, as :class:`Pagination` answers it, for an APIView that paginates by
    hand. The view declares ``pagination_class = Pagination``, which also tells the OpenAPI schema the page shape and
    parameters."""
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    response: Response = paginator.get_paginated_response(serializer_class(page, many=True).data)
    return response


def error_body(status: int, code: str, detail: Any, errors: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status": status, "code": code, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return body


HTTP_STATUS: dict[type[errors.ApplicationError], int] = {
    errors.Invalid: 400,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Unavailable: 503,
}

RETRY_AFTER_SECONDS = 2


class DatabaseUnavailable(errors.Unavailable):
    """The database did not answer in time (the statement timeout, tts_common.base.database), had no pooled connection free
    within ``DB_POOL_TIMEOUT_SECONDS``, or could not be reached: a 503 the client may retry, never a request left
    hanging."""

    default_message = "The database is busy or unavailable; try again shortly."

    def __init__(self) -> None:
        super().__init__(retry_after=RETRY_AFTER_SECONDS)


def application_error_status(exc: errors.ApplicationError) -> int:
    return next(HTTP_STATUS[cls] for cls in type(exc).__mro__ if cls in HTTP_STATUS)


def application_error_body(exc: errors.ApplicationError) -> dict[str, Any]:
    return error_body(application_error_status(exc), exc.code, exc.message, exc.fields) | exc.extra


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    # QueryCanceled (the timeout), PoolTimeout (every pooled connection busy), a refused or lost connection, a
    # deadlock; a connection closed under the request.
    if isinstance(exc, (db.OperationalError, db.InterfaceError)):
        exc = DatabaseUnavailable()
    elif isinstance(exc, Http404):
        exc = errors.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = errors.Forbidden()
    if isinstance(exc, errors.ApplicationError):
        set_rollback()  # as DRF's handler does for its own exceptions
        response = Response(application_error_body(exc), status=application_error_status(exc))
        if isinstance(exc, errors.Unavailable):
            response["Retry-After"] = str(exc.retry_after)
        return response
    handled = drf_exception_handler(exc, context)
    if handled is None:
        return None
    response = handled
    if isinstance(exc, exceptions.ValidationError):
        field_errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = error_body(response.status_code, "invalid", "Invalid input.", field_errors)
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        # simplejwt puts a dict (detail, code, messages) in detail; keep the sentence.
        detail = exc.detail.get("detail", exc.default_detail) if isinstance(exc.detail, dict) else exc.detail
        response.data = error_body(response.status_code, code, detail)
    return response


def json_error(request: Any, status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse(error_body(status, code, detail), status=status)


def handler400(request: Any, exception: Exception | None = None) -> JsonResponse:
    """Requests Django itself refuses before any view (e.g. more form fields than DATA_UPLOAD_MAX_NUMBER_FIELDS)."""
    return json_error(request, 400, "bad_request", "Bad request.")


def handler403(request: Any, exception: Exception | None = None) -> JsonResponse:
    return json_error(request, 403, "permission_denied", "You do not have permission to perform this action.")


def handler404(request: Any, exception: Exception | None = None) -> JsonResponse:
    return json_error(request, 404, "not_found", "Not found.")


def handler500(request: Any) -> JsonResponse:
    return json_error(request, 500, "server_error", "Internal server error.")


# --- CSV ------------------------------------------------------------------------------------------------------------
# A spreadsheet reads a cell starting with one of these as a formula (CSV injection): such text is prefixed with '.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: text that a spreadsheet would run as a formula is neutralised; numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


class CSVRenderer(renderers.BaseRenderer):
    """``{"columns": [...], "rows": [{column: value}]}`` as CSV with a header row (``?format=csv`` or
    ``Accept: text/csv``)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(data["columns"])
        for row in data["rows"]:
            writer.writerow([csv_cell(row.get(column)) for column in data["columns"]])
        return out.getvalue().encode(self.charset)
