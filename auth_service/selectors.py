"""Reads of the auth service: querysets for the API, token claims and the sync payloads of DESIGN §2."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.conf import settings
from django.db.models import Prefetch, QuerySet

from tts_common.base import permissions
from tts_common.contracts.messages import RoleData, SystemRole, UserData
from tts_common.http.auth import has_permission

from .models import AuditEvent, Role, System, User, UserSystemRole


def assignment_list(*, user: User) -> QuerySet[UserSystemRole]:
    """Every assignment of ``user``, including those of deactivated roles (admins need to see and clean them up)."""
    return UserSystemRole.objects.filter(user=user).select_related("role__system").order_by("assigned_at", "id")


def user_count() -> int:
    return User.objects.count()


def user_list() -> QuerySet[User]:
    assignments = UserSystemRole.objects.select_related("role__system").order_by("assigned_at", "id")
    return User.objects.prefetch_related(Prefetch("system_roles", queryset=assignments)).order_by("id")


def user_get_visible(*, actor: Any, user_id: int) -> User | None:
    """The user ``actor`` may read: holders of ``users.manage`` read anyone, others only themselves.

    ``None`` both for a missing user and for someone else's, so the API answers 404 either way and does not reveal
    which user ids exist.
    """
    if not has_permission(actor, permissions.USERS_MANAGE) and actor.id != user_id:
        return None
    return user_list().filter(pk=user_id).first()


def active_role_names(*, user: User) -> dict[str, list[str]]:
    """The token's ``roles`` claim: {system code: [role name, ...]} of the user's active roles."""
    roles: dict[str, list[str]] = defaultdict(list)
    for system_code, role_name in (
        UserSystemRole.objects.filter(user=user, role__is_active=True)
        .order_by("role__system__code", "role__name")
        .values_list("role__system__code", "role__name")
    ):
        roles[system_code].append(role_name)
    return dict(roles)


def granted_permissions(*, user: User) -> set[str]:
    """The permissions of ``user``'s active TTS roles (the other systems' roles grant none of TTS's)."""
    granted: set[str] = set()
    for role_permissions in UserSystemRole.objects.filter(
        user=user, role__is_active=True, role__system__code=settings.TTS_SYSTEM
    ).values_list("role__permissions", flat=True):
        granted.update(role_permissions)
    return granted


def token_claims(*, user: User) -> dict[str, Any]:
    """Claims every access token carries, read fresh from the database (so a refresh picks up role changes).
    ``is_admin``: a TTS role with the admin permission (whatever its name), or Django staff/superuser;
    ``permissions``: the union over the active TTS roles, every permission for admins."""
    granted = granted_permissions(user=user)
    admin = permissions.ADMIN in granted or user.is_staff or user.is_superuser
    return {
        "user_id": user.pk,
        "username": user.username,
        "roles": active_role_names(user=user),
        "is_admin": admin,
        "permissions": permissions.effective_permissions({permissions.ADMIN} if admin else granted),
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
    }


def user_sync_snapshot(*, user: User) -> UserData:
    """The ``workflow.role.sync`` payload: the user's *effective* roles (active roles only, like the token).

    Call it after locking and mutating the user so the snapshot and its version describe the same state.
    """
    assignments = assignment_list(user=user).filter(role__is_active=True)
    system_roles: list[SystemRole] = [
        {
            "system": assignment.role.system.code,
            "role_id": assignment.role_id,
            "role_name": assignment.role.name,
            "assigned_at": assignment.assigned_at.isoformat(),
        }
        for assignment in assignments
    ]
    return {
        "user_id": user.pk,
        "username": user.username,
        "email": user.email,
        "is_active": user.is_active,
        "version": user.sync_version,
        "system_roles": system_roles,
    }


def role_list() -> QuerySet[Role]:
    return Role.objects.select_related("system").order_by("system__code", "name", "id")


def role_snapshot(*, role: Role) -> RoleData:
    """The ``workflow.role.send`` payload."""
    return {
        "role_id": role.pk,
        "system": role.system.code,
        "name": role.name,
        "permissions": list(role.permissions),
        "is_active": role.is_active,
        "version": role.version,
    }


def system_list() -> QuerySet[System]:
    return System.objects.order_by("code")


def audit_event_list() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.order_by("-occurred_at", "-id")
