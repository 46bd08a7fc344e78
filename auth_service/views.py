"""HTTP API of the auth service (DESIGN §5): parse the request, call a selector or service, render the result."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, generics, status
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from tts_common.base import permissions
from tts_common.base.errors import Conflict
from tts_common.http.auth import RequirePermission

from . import selectors, serializers, services, tokens
from .filters import AuditEventFilter, RoleFilter, UserFilter
from .models import AuditEvent, Role, User


class ApiErrorsMixin:
    # Maps service errors onto the API's error shape. Services raise Django's ValidationError (they also serve the
    # Django admin); a unique constraint can still be hit by a concurrent request after validation passed, which is
    # a conflict rather than a server error.

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, DjangoValidationError):
            errors = as_serializer_error(exc)
            if NON_FIELD_ERRORS in errors:
                errors[api_settings.NON_FIELD_ERRORS_KEY] = errors.pop(NON_FIELD_ERRORS)
            exc = exceptions.ValidationError(errors)
        elif isinstance(exc, IntegrityError):
            exc = Conflict("The request conflicts with a concurrent change; retry it.")
        return super().handle_exception(exc)  # type: ignore[misc]


ManagesUsers = RequirePermission(permissions.USERS_MANAGE)
ManagesUsersOrReads = RequirePermission(permissions.USERS_MANAGE, reads_open=True)


def _source(request: Request) -> str:
    """The client address the audit records (the login throttle's: NUM_PROXIES decides whether a proxy's
    X-Forwarded-For is believed)."""
    return tokens.client_address(request)


def _visible_user(request: Request, user_id: int) -> User:
    user = selectors.user_get_visible(actor=request.user, user_id=user_id)
    if user is None:
        raise exceptions.NotFound()
    return user


def _input(serializer_class: type[serializers.InputSerializer], request: Request, **kwargs: Any) -> dict[str, Any]:
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


_ERRORS = {
    400: OpenApiResponse(description="Invalid input: `{status, code, detail, errors}`."),
    401: OpenApiResponse(description="Missing, invalid or expired token."),
    403: OpenApiResponse(description="A permission the caller lacks is required (see tts_common.base.permissions)."),
    404: OpenApiResponse(description="No such object (or not yours to see)."),
}


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: _ERRORS[code] for code in codes}


# --- Tokens ---------------------------------------------------------------------------------------------------
class _TokenApi(ApiErrorsMixin, APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request: Request) -> str:
        # Without an authenticator DRF would turn our 401s into 403s; the client should log in again instead.
        return 'Bearer realm="tts"'

    def _render(self, pair: tokens.TokenPair) -> Response:
        return Response(serializers.TokenPairOutputSerializer(pair).data)


@extend_schema(tags=["auth"])
class TokenObtainApi(_TokenApi):
    @extend_schema(
        operation_id="token_obtain",
        request=serializers.TokenObtainInputSerializer,
        responses={
            200: serializers.TokenPairOutputSerializer,
            **_errors(400),
            401: OpenApiResponse(description="Wrong username or password, or an inactive account."),
            429: OpenApiResponse(
                description="This client address is locked out of this account (or of all, after failures over many), "
                "or the account's back-off after failed logins is running; see Retry-After."
            ),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = _input(serializers.TokenObtainInputSerializer, request)
        pair = tokens.obtain_token_pair(
            username=data["username"], password=data["password"], client_ip=tokens.client_address(request)
        )
        return self._render(pair)


@extend_schema(tags=["auth"])
class TokenRefreshApi(_TokenApi):
    @extend_schema(
        operation_id="token_refresh",
        request=serializers.TokenRefreshInputSerializer,
        responses={
            200: serializers.TokenPairOutputSerializer,
            **_errors(400),
            401: OpenApiResponse(
                description="Invalid, expired, already used or revoked refresh token, inactive user or changed "
                "password."
            ),
        },
        auth=[],
        description="Answers a new pair; the refresh token sent is revoked (use the new one next time).",
    )
    def post(self, request: Request) -> Response:
        data = _input(serializers.TokenRefreshInputSerializer, request)
        return self._render(tokens.refresh_token_pair(refresh_token=data["refresh_token"]))


@extend_schema(tags=["auth"])
class TokenLogoutApi(_TokenApi):
    @extend_schema(
        operation_id="token_logout",
        request=serializers.TokenRefreshInputSerializer,
        responses={
            204: OpenApiResponse(description="The refresh token is revoked."),
            **_errors(400),
            401: OpenApiResponse(description="Invalid, expired or already revoked refresh token."),
        },
        auth=[],
        description="Ends the session of this refresh token (the token itself is the credential); its access tokens "
        "run out on their own.",
    )
    def post(self, request: Request) -> Response:
        data = _input(serializers.TokenRefreshInputSerializer, request)
        tokens.revoke_refresh_token(refresh_token=data["refresh_token"])
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Users ----------------------------------------------------------------------------------------------------
@extend_schema(tags=["auth"])
@extend_schema_view(
    get=extend_schema(responses={200: serializers.UserOutputSerializer(many=True), **_errors(400, 401, 403)})
)
class UserListApi(ApiErrorsMixin, generics.ListAPIView):
    permission_classes = [ManagesUsers]
    serializer_class = serializers.UserOutputSerializer
    filterset_class = UserFilter
    ordering_fields = ["id", "username", "email", "date_joined"]

    def get_queryset(self):  # type: ignore[override]
        return selectors.user_list()

    @extend_schema(
        request=serializers.UserCreateInputSerializer,
        responses={201: serializers.UserOutputSerializer, **_errors(400, 401, 403)},
    )
    def post(self, request: Request) -> Response:
        data = _input(serializers.UserCreateInputSerializer, request)
        user = services.user_create(**data, actor=request.user, source_address=_source(request))
        return Response(serializers.UserOutputSerializer(user).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["auth"])
class UserDetailApi(ApiErrorsMixin, APIView):
    """One user: holders of users.manage see and change anyone, others only themselves (anyone else's id answers
    404)."""

    def get_permissions(self) -> list[BasePermission]:
        return [ManagesUsers()] if self.request.method == "DELETE" else super().get_permissions()

    def _render(self, request: Request, user_id: int) -> Response:
        return Response(serializers.UserOutputSerializer(_visible_user(request, user_id)).data)

    @extend_schema(responses={200: serializers.UserOutputSerializer, **_errors(401, 404)})
    def get(self, request: Request, user_id: int) -> Response:
        return self._render(request, user_id)

    @extend_schema(
        request=serializers.UserUpdateInputSerializer,
        responses={200: serializers.UserOutputSerializer, **_errors(400, 401, 403, 404)},
        description="Admins change email, names, is_active and passwords; users change their own names and "
        "password (with current_password). Only a superuser changes a staff or superuser account.",
    )
    def patch(self, request: Request, user_id: int) -> Response:
        user = _visible_user(request, user_id)
        data = _input(serializers.UserUpdateInputSerializer, request, partial=True)
        services.user_update(user=user, data=data, actor=request.user, source_address=_source(request))
        return self._render(request, user_id)  # re-read with its role assignments

    @extend_schema(
        responses={204: OpenApiResponse(description="Deactivated (users are never deleted)."), **_errors(401, 403, 404)}
    )
    def delete(self, request: Request, user_id: int) -> Response:
        services.user_deactivate(user=_visible_user(request, user_id), actor=request.user, source_address=_source(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["auth"])
class UserMeApi(UserDetailApi):
    """The caller's own account."""

    http_method_names = ["get", "patch", "head", "options"]

    @extend_schema(
        operation_id="api_v1_users_me_retrieve", responses={200: serializers.UserOutputSerializer, **_errors(401)}
    )
    def get(self, request: Request) -> Response:  # type: ignore[override]
        return super().get(request, request.user.id)

    @extend_schema(
        operation_id="api_v1_users_me_partial_update",
        request=serializers.UserUpdateInputSerializer,
        responses={200: serializers.UserOutputSerializer, **_errors(400, 401, 403)},
    )
    def patch(self, request: Request) -> Response:  # type: ignore[override]
        return super().patch(request, request.user.id)


@extend_schema(tags=["auth"])
class UserRolesApi(ApiErrorsMixin, generics.GenericAPIView):
    """A user's role assignments (including those of deactivated roles, flagged by ``role_is_active``)."""

    serializer_class = serializers.AssignmentOutputSerializer
    filter_backends: list[type] = []

    def get_permissions(self) -> list[BasePermission]:
        return super().get_permissions() if self.request.method == "GET" else [ManagesUsers()]

    @extend_schema(responses={200: serializers.AssignmentOutputSerializer(many=True), **_errors(401, 404)})
    def get(self, request: Request, user_id: int) -> Response:
        page = self.paginate_queryset(selectors.assignment_list(user=_visible_user(request, user_id)))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        request=serializers.UserRoleAssignInputSerializer,
        responses={
            201: serializers.AssignmentOutputSerializer,
            200: OpenApiResponse(serializers.AssignmentOutputSerializer, description="The user already had it."),
            **_errors(400, 401, 403, 404),
        },
    )
    def post(self, request: Request, user_id: int) -> Response:
        user = _visible_user(request, user_id)
        data = _input(serializers.UserRoleAssignInputSerializer, request)
        assignment, created = services.user_role_assign(
            user=user, role=data["role_id"], actor=request.user, source_address=_source(request)
        )
        return Response(
            self.get_serializer(assignment).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(
        request=serializers.UserRolesReplaceInputSerializer,
        responses={200: serializers.UserOutputSerializer, **_errors(400, 401, 403, 404)},
        description="Replaces the user's whole role set; returns the user with its new assignments.",
    )
    def put(self, request: Request, user_id: int) -> Response:
        user = _visible_user(request, user_id)
        data = _input(serializers.UserRolesReplaceInputSerializer, request)
        services.user_roles_replace(
            user=user, roles=data["role_ids"], actor=request.user, source_address=_source(request)
        )
        return Response(serializers.UserOutputSerializer(_visible_user(request, user_id)).data)


@extend_schema(tags=["auth"])
class UserRoleDetailApi(ApiErrorsMixin, APIView):
    permission_classes = [ManagesUsers]

    @extend_schema(
        responses={204: OpenApiResponse(description="Unassigned."), **_errors(401, 403, 404)},
    )
    def delete(self, request: Request, user_id: int, role_id: int) -> Response:
        user = get_object_or_404(User, pk=user_id)
        role = get_object_or_404(Role, pk=role_id)
        if not services.user_role_unassign(user=user, role=role, actor=request.user, source_address=_source(request)):
            raise exceptions.NotFound("The user does not have this role.")
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Roles and systems ----------------------------------------------------------------------------------------
@extend_schema(tags=["auth"])
@extend_schema_view(
    get=extend_schema(responses={200: serializers.RoleOutputSerializer(many=True), **_errors(400, 401)})
)
class RoleListApi(ApiErrorsMixin, generics.ListAPIView):
    permission_classes = [ManagesUsersOrReads]
    serializer_class = serializers.RoleOutputSerializer
    filterset_class = RoleFilter
    ordering_fields = ["id", "name", "version", "created_at"]

    def get_queryset(self):  # type: ignore[override]
        return selectors.role_list()

    @extend_schema(
        request=serializers.RoleCreateInputSerializer,
        responses={201: serializers.RoleOutputSerializer, **_errors(400, 401, 403)},
    )
    def post(self, request: Request) -> Response:
        data = _input(serializers.RoleCreateInputSerializer, request)
        role = services.role_create(**data, actor=request.user, source_address=_source(request))
        return Response(serializers.RoleOutputSerializer(role).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["auth"])
class RoleDetailApi(ApiErrorsMixin, APIView):
    permission_classes = [ManagesUsersOrReads]

    def _role(self, role_id: int) -> Role:
        return get_object_or_404(selectors.role_list(), pk=role_id)

    @extend_schema(responses={200: serializers.RoleOutputSerializer, **_errors(401, 404)})
    def get(self, request: Request, role_id: int) -> Response:
        return Response(serializers.RoleOutputSerializer(self._role(role_id)).data)

    @extend_schema(
        request=serializers.RoleUpdateInputSerializer,
        responses={200: serializers.RoleOutputSerializer, **_errors(400, 401, 403, 404)},
    )
    def patch(self, request: Request, role_id: int) -> Response:
        role = self._role(role_id)
        data = _input(serializers.RoleUpdateInputSerializer, request, partial=True)
        role = services.role_update(role=role, data=data, actor=request.user, source_address=_source(request))
        return Response(serializers.RoleOutputSerializer(role).data)

    @extend_schema(
        responses={204: OpenApiResponse(description="Deactivated (roles are never deleted)."), **_errors(401, 403, 404)}
    )
    def delete(self, request: Request, role_id: int) -> Response:
        services.role_deactivate(role=self._role(role_id), actor=request.user, source_address=_source(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["auth"])
class SystemListApi(generics.ListAPIView):
    serializer_class = serializers.SystemOutputSerializer
    filter_backends: list[type] = []

    def get_queryset(self):  # type: ignore[override]
        return selectors.system_list()


@extend_schema(tags=["auth"])
class PermissionListApi(generics.GenericAPIView):
    """Every role permission with what it allows (tts_common.base.permissions): what a role's ``permissions`` may hold."""

    serializer_class = serializers.PermissionOutputSerializer
    pagination_class = None

    @extend_schema(responses={200: serializers.PermissionOutputSerializer(many=True), **_errors(401)})
    def get(self, request: Request) -> Response:
        rows = [{"name": name, "description": text} for name, text in permissions.PERMISSIONS.items()]
        return Response(self.get_serializer(rows, many=True).data)


# --- Audit ----------------------------------------------------------------------------------------------------
@extend_schema(tags=["auth"])
@extend_schema_view(
    get=extend_schema(responses={200: serializers.AuditEventOutputSerializer(many=True), **_errors(400, 401, 403)})
)
class AuditEventListApi(generics.ListAPIView):
    """The auth service's audit, newest first (users.manage): users created, changed, deactivated; roles granted
    and revoked; passwords changed; failed logins and lockouts; each with actor, target, time and client address.
    Filters: actor and target (usernames), event_type, occurred_after/occurred_before."""

    permission_classes = [ManagesUsers]
    serializer_class = serializers.AuditEventOutputSerializer
    filterset_class = AuditEventFilter
    filter_backends = [DjangoFilterBackend]

    def get_queryset(self):  # type: ignore[override]
        return selectors.audit_event_list()


@extend_schema(tags=["auth"])
class AuditEventTypeListApi(generics.GenericAPIView):
    """The auth audit's event types (users.manage): what its ``event_type`` filter takes."""

    permission_classes = [ManagesUsers]
    serializer_class = serializers.AuditEventTypesOutputSerializer
    pagination_class = None

    @extend_schema(responses={200: serializers.AuditEventTypesOutputSerializer, **_errors(401, 403)})
    def get(self, request: Request) -> Response:
        return Response(self.get_serializer({"event_types": AuditEvent.EventType.values}).data)
