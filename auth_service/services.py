"""Writes of the auth service.

Every change that alters a sync payload of DESIGN §2 publishes it once the transaction commits (nothing on
rollback), with a version bumped under a row lock so consumers can keep the newest state:

- a role's own fields → ``workflow.role.send`` with ``role_data``;
- a user's effective roles, username, email or active flag → ``workflow.role.sync`` with a full ``user_data``
  snapshot. Renaming, deactivating or reactivating a role changes the snapshot of every user holding it, so those
  users are re-published too.

Lock order is always roles (ascending id) before users (ascending id), so concurrent services cannot deadlock.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from tts_common import contracts
from tts_common.base import permissions as perms
from tts_common.contracts.messages import RoleData, UserData
from tts_common.http.auth import has_permission, is_admin
from tts_common.messaging import outbox

from . import selectors
from .models import AuditEvent, Role, System, User, UserSystemRole

# What callers may change through user_update (the password has its own rules, see there).
USER_UPDATABLE_FIELDS = frozenset(
    {"username", "email", "first_name", "last_name", "is_active", "is_staff", "is_superuser"}
)
# Fields of the user_data snapshot besides roles: a change to any of them is published.
_USER_SNAPSHOT_FIELDS = ("username", "email", "is_active")
ROLE_UPDATABLE_FIELDS = frozenset({"name", "permissions", "is_active"})


# --- Audit ----------------------------------------------------------------------------------------------------
def audit_record(
    *,
    event_type: AuditEvent.EventType,
    actor: Any = None,
    source_address: str = "",
    target: User | None = None,
    target_username: str = "",
    role: Role | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record a sensitive operation, in the caller's transaction (it commits or rolls back with the change).
    ``actor``: the caller (a token user or a Django user), None for the system or an anonymous login attempt."""
    return AuditEvent.objects.create(
        event_type=event_type,
        actor_id=getattr(actor, "id", None),
        actor_username=getattr(actor, "username", "") or "",
        target_user_id=target.pk if target is not None else None,
        target_username=target.username if target is not None else target_username,
        role_id=role.pk if role is not None else None,
        role_name=str(role) if role is not None else "",
        source_address=source_address,
        details=details or {},
    )


def check_may_grant(*, actor: Any, granted: Iterable[str]) -> None:
    """Nobody hands out a permission they lack (on a role, or by giving a user a role that has it), or holding
    ``users.manage`` would be holding every permission. ``actor=None``: a trusted caller."""
    if actor is None:
        return
    lacking = sorted(name for name in set(granted) if not has_permission(actor, name))
    if lacking:
        raise PermissionDenied(f"You cannot grant permissions you do not hold: {', '.join(lacking)}.")


# --- Users ----------------------------------------------------------------------------------------------------
def _lock_user(user_id: int) -> User:
    return User.objects.select_for_update().get(pk=user_id)


def _lock_roles(role_ids: Iterable[int]) -> list[Role]:
    return list(
        Role.objects.select_for_update(of=("self",)).select_related("system").filter(pk__in=role_ids).order_by("pk")
    )


def _publish_user(user: User) -> UserData:
    """Bump the version of ``user`` (locked and already mutated by the caller) and publish its snapshot on commit."""
    user.sync_version += 1
    user.save(update_fields=["sync_version"])
    snapshot = selectors.user_sync_snapshot(user=user)
    outbox.publish_one(contracts.ROLE_SYNC, user_data=snapshot)
    return snapshot


def _clean_user(user: User, password: str | None) -> None:
    """Model validation plus Django's password validators, reported together as field errors."""
    errors: dict[str, Any] = {}
    try:
        user.full_clean(exclude={"password"})
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    if password is not None:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            errors["password"] = exc.error_list
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str | None,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    is_active: bool = True,
    is_staff: bool = False,
    is_superuser: bool = False,
    actor: Any = None,
    source_address: str = "",
) -> User:
    """Create a user (``password=None``: no usable password) and publish its first snapshot (version 1)."""
    user = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        is_active=is_active,
        is_staff=is_staff,
        is_superuser=is_superuser,
    )
    _clean_user(user, password)
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.save()
    locked = _lock_user(user.pk)
    _publish_user(locked)
    audit_record(
        event_type=AuditEvent.EventType.USER_CREATED, actor=actor, source_address=source_address, target=locked,
        details={"is_active": is_active, "is_staff": is_staff, "is_superuser": is_superuser},
    )  # fmt: skip
    return locked


def _is_superuser(actor: Any) -> bool:
    return bool(getattr(actor, "is_superuser", False))


def check_may_change_user(*, actor: Any, user: User) -> None:
    """Only a superuser (or its owner) changes a staff or superuser account (its fields, password, active flag or
    roles): a TTS administrator must not be able to take over the accounts that run Django admin. ``actor=None``: a
    trusted caller (Django admin, which checks this itself, or the seed). Likewise only an administrator changes an
    administrator's account (a holder of users.manage alone must not lock the administrators out)."""
    if actor is None or actor.id == user.pk:
        return
    if (user.is_staff or user.is_superuser) and not _is_superuser(actor):
        raise PermissionDenied("Only a superuser can change a staff or superuser account.")
    if not is_admin(actor) and perms.ADMIN in selectors.granted_permissions(user=user):
        raise PermissionDenied("Only an administrator can change an administrator's account.")


def _audit_user_change(*, actor: Any, source_address: str, user: User, fields: set[str]) -> None:
    # Field names only: no passwords or addresses in the audit.
    record = {"actor": actor, "source_address": source_address, "target": user}
    if "is_active" in fields:
        active = AuditEvent.EventType.USER_REACTIVATED if user.is_active else AuditEvent.EventType.USER_DEACTIVATED
        audit_record(event_type=active, **record)
    if "password" in fields:
        audit_record(event_type=AuditEvent.EventType.PASSWORD_CHANGED, **record)
    others = fields - {"is_active", "password"}
    if others:
        audit_record(event_type=AuditEvent.EventType.USER_CHANGED, details={"fields": sorted(others)}, **record)


@transaction.atomic
def user_update(*, user: User, data: dict[str, Any], actor: Any = None, source_address: str = "") -> User:
    """Apply ``data`` (keys of USER_UPDATABLE_FIELDS, plus ``password``/``current_password``) to ``user``.

    ``actor`` is the authenticated caller, or ``None`` for trusted callers (Django admin, seed). Callers without
    ``users.manage`` may not change the account flags nor an email address (refused before the address is even
    validated, so the answer cannot tell which addresses are registered); only a superuser may grant staff or superuser status or
    change a staff or superuser account; anyone changing their own password must confirm the current one (a stolen
    access token alone must not be enough to take the account over).
    """
    data = dict(data)
    password = data.pop("password", None)
    current_password = data.pop("current_password", None)
    unknown = set(data) - USER_UPDATABLE_FIELDS
    if unknown:
        raise ValueError(f"user_update cannot change {sorted(unknown)}")
    if actor is not None and not has_permission(actor, perms.USERS_MANAGE):
        if {"is_active", "is_staff", "is_superuser"} & set(data):
            raise PermissionDenied("Only user managers can change account status.")
        if "email" in data:
            raise PermissionDenied("Only user managers can change an email address.")
    if actor is not None and {"is_staff", "is_superuser"} & set(data) and not _is_superuser(actor):
        raise PermissionDenied("Only a superuser can grant or revoke staff or superuser status.")

    locked = _lock_user(user.pk)
    check_may_change_user(actor=actor, user=locked)
    before = {field: getattr(locked, field) for field in (*_USER_SNAPSHOT_FIELDS, *data)}
    for field, value in data.items():
        setattr(locked, field, value)
    _clean_user(locked, password)
    if password is not None:
        if actor is not None and actor.id == locked.pk and not locked.check_password(current_password or ""):
            raise ValidationError({"current_password": "Enter your current password to change it."})
        locked.set_password(password)
    locked.save()
    # A deactivation or a new password ends the user's sessions: see auth_service.receivers.
    changed = {field for field, value in before.items() if getattr(locked, field) != value}
    if changed & set(_USER_SNAPSHOT_FIELDS):
        _publish_user(locked)
    _audit_user_change(
        actor=actor, source_address=source_address, user=locked,
        fields=changed | ({"password"} if password is not None else set()),
    )  # fmt: skip
    return locked


def user_deactivate(*, user: User, actor: Any = None, source_address: str = "") -> User:
    """Users are never deleted (tasks, comments and audit entries keep referring to them): they are deactivated."""
    return user_update(user=user, data={"is_active": False}, actor=actor, source_address=source_address)


# --- Role assignments -----------------------------------------------------------------------------------------
def check_assignable(*, current_role_ids: set[int], roles: Iterable[Role]) -> None:
    """A user's new role set may keep roles deactivated since they were assigned, but not gain inactive ones."""
    refused = [str(role) for role in roles if not role.is_active and role.pk not in current_role_ids]
    if refused:
        raise ValidationError(f"Inactive roles cannot be assigned: {', '.join(sorted(refused))}.", code="inactive")


def _current_role_ids(user: User) -> set[int]:
    return set(UserSystemRole.objects.filter(user=user).values_list("role_id", flat=True))


@transaction.atomic
def user_role_assign(
    *, user: User, role: Role, actor: Any = None, source_address: str = ""
) -> tuple[UserSystemRole, bool]:
    """Give ``user`` the ``role``; ``(assignment, created)``. Assigning a role the user has changes nothing."""
    # The role lock keeps a concurrent rename/deactivation from publishing snapshots that miss this assignment.
    (locked_role,) = _lock_roles([role.pk])
    locked_user = _lock_user(user.pk)
    check_may_change_user(actor=actor, user=locked_user)
    existing = UserSystemRole.objects.filter(user=locked_user, role=locked_role).first()
    if existing is not None:
        return existing, False
    check_may_grant(actor=actor, granted=locked_role.permissions)
    try:
        check_assignable(current_role_ids=set(), roles=[locked_role])
    except ValidationError as exc:
        raise ValidationError({"role_id": exc.error_list}) from exc
    assignment = UserSystemRole.objects.create(user=locked_user, role=locked_role)
    _publish_user(locked_user)
    audit_record(
        event_type=AuditEvent.EventType.ROLE_GRANTED, actor=actor, source_address=source_address,
        target=locked_user, role=locked_role,
    )  # fmt: skip
    return assignment, True


@transaction.atomic
def user_role_unassign(*, user: User, role: Role, actor: Any = None, source_address: str = "") -> bool:
    """Take ``role`` from ``user``; ``False`` if the user did not have it."""
    locked_user = _lock_user(user.pk)
    check_may_change_user(actor=actor, user=locked_user)
    deleted, _ = UserSystemRole.objects.filter(user=locked_user, role=role).delete()
    if deleted:
        _publish_user(locked_user)
        audit_record(
            event_type=AuditEvent.EventType.ROLE_REVOKED, actor=actor, source_address=source_address,
            target=locked_user, role=role,
        )  # fmt: skip
    return bool(deleted)


@transaction.atomic
def user_roles_replace(
    *, user: User, roles: Iterable[Role], actor: Any = None, source_address: str = ""
) -> list[UserSystemRole]:
    """Make ``roles`` the user's whole role set (kept assignments keep their ``assigned_at``); one message at most."""
    locked_roles = _lock_roles({role.pk for role in roles})
    locked_user = _lock_user(user.pk)
    check_may_change_user(actor=actor, user=locked_user)
    current = _current_role_ids(locked_user)
    wanted = {role.pk for role in locked_roles}
    try:
        check_assignable(current_role_ids=current, roles=locked_roles)
    except ValidationError as exc:
        raise ValidationError({"role_ids": exc.error_list}) from exc
    added = [role for role in locked_roles if role.pk not in current]
    check_may_grant(actor=actor, granted=[name for role in added for name in role.permissions])
    if wanted != current:
        removed = list(Role.objects.select_related("system").filter(pk__in=current - wanted).order_by("pk"))
        UserSystemRole.objects.filter(user=locked_user, role_id__in=current - wanted).delete()
        UserSystemRole.objects.bulk_create([UserSystemRole(user=locked_user, role=role) for role in added])
        _publish_user(locked_user)
        record = {"actor": actor, "source_address": source_address, "target": locked_user}
        for role in added:
            audit_record(event_type=AuditEvent.EventType.ROLE_GRANTED, role=role, **record)
        for role in removed:
            audit_record(event_type=AuditEvent.EventType.ROLE_REVOKED, role=role, **record)
    return list(selectors.assignment_list(user=locked_user))


# --- Roles ----------------------------------------------------------------------------------------------------
def _publish_role(role: Role) -> RoleData:
    snapshot = selectors.role_snapshot(role=role)
    outbox.publish_one(contracts.ROLE_SEND, role_data=snapshot)
    return snapshot


@transaction.atomic
def role_create(
    *,
    system: System,
    name: str,
    permissions: list[str] | None = None,
    is_active: bool = True,
    actor: Any = None,
    source_address: str = "",
) -> Role:
    """A new role; ``permissions=None``: the agents' defaults (tts_common.base.permissions.AGENT_DEFAULTS)."""
    granted = list(perms.AGENT_DEFAULTS if permissions is None else permissions)
    role = Role(system=system, name=name, permissions=granted, is_active=is_active)
    role.full_clean()
    check_may_grant(actor=actor, granted=granted)
    role.save()
    _publish_role(role)
    audit_record(
        event_type=AuditEvent.EventType.ROLE_CREATED, actor=actor, source_address=source_address, role=role,
        details={"permissions": granted, "is_active": is_active},
    )  # fmt: skip
    return role


@transaction.atomic
def role_update(*, role: Role, data: dict[str, Any], actor: Any = None, source_address: str = "") -> Role:
    """Apply ``data`` (keys of ROLE_UPDATABLE_FIELDS); a real change bumps the version and is published."""
    unknown = set(data) - ROLE_UPDATABLE_FIELDS
    if unknown:
        raise ValueError(f"role_update cannot change {sorted(unknown)}")
    (locked,) = _lock_roles([role.pk])
    if all(getattr(locked, field) == value for field, value in data.items()):
        return locked
    if actor is not None and perms.ADMIN in locked.permissions and not is_admin(actor):
        raise PermissionDenied("Only an administrator can change an administrator role.")
    was = (locked.name, locked.is_active)
    before = {field: getattr(locked, field) for field in data}
    for field, value in data.items():
        setattr(locked, field, value)
    locked.full_clean()
    check_may_grant(actor=actor, granted=set(locked.permissions) - set(before.get("permissions", locked.permissions)))
    locked.version += 1
    locked.save()
    _publish_role(locked)
    changes = {field: {"from": before[field], "to": value} for field, value in data.items() if before[field] != value}
    audit_record(
        event_type=AuditEvent.EventType.ROLE_CHANGED, actor=actor, source_address=source_address, role=locked,
        details=changes,
    )  # fmt: skip
    # User snapshots list active roles by name: they change when the role (de)activates, or is renamed while active.
    if was[1] != locked.is_active or (was[0] != locked.name and locked.is_active):
        for user_id in locked.assignments.order_by("user_id").values_list("user_id", flat=True):
            _publish_user(_lock_user(user_id))
    return locked


def role_deactivate(*, role: Role, actor: Any = None, source_address: str = "") -> Role:
    """Roles are never deleted (workflow steps and past assignments name them): they are deactivated."""
    return role_update(role=role, data={"is_active": False}, actor=actor, source_address=source_address)


# --- Demo accounts (DESIGN §6) --------------------------------------------------------------------------------
class DemoLogin(NamedTuple):
    username: str
    password: str
    role: str  # a TTS role


DEMO_SYSTEMS: dict[str, str] = {
    "TTS": "Ticket Tracking System",
    "HDTS": "Help Desk Ticketing System",
    "AMS": "Asset Management System",
    "BMS": "Budget Management System",
}
# The demo's administrator role: an administrator by its permissions (tts_common.base.permissions.ADMIN), not its name.
DEMO_ADMIN_ROLE = "Admin"
DEMO_TTS_ROLES: tuple[str, ...] = (
    DEMO_ADMIN_ROLE,
    "IT Support Agent",
    "Network Engineer",
    "Supervisor",
    "Budget Approver",
    "Ticket Coordinator",
)
# Agents work their own tasks; the supervisor also sees reports; coordinators (who own tickets) also act in bulk.
DEMO_ROLE_PERMISSIONS: dict[str, list[str]] = {
    DEMO_ADMIN_ROLE: [perms.ADMIN],
    "IT Support Agent": list(perms.AGENT_DEFAULTS),
    "Network Engineer": list(perms.AGENT_DEFAULTS),
    "Supervisor": [*perms.AGENT_DEFAULTS, perms.REPORTS_VIEW],
    "Budget Approver": list(perms.AGENT_DEFAULTS),
    "Ticket Coordinator": [*perms.AGENT_DEFAULTS, perms.TASK_BULK],
}
_DEMO_PASSWORD = "demo-pass-123"
DEMO_LOGINS: tuple[DemoLogin, ...] = (
    DemoLogin("admin", "admin-demo-pass", DEMO_ADMIN_ROLE),
    *(DemoLogin(f"agent{n}", _DEMO_PASSWORD, "IT Support Agent") for n in (1, 2, 3)),
    *(DemoLogin(f"agent{n}", _DEMO_PASSWORD, "Network Engineer") for n in (4, 5, 6)),
    DemoLogin("super1", _DEMO_PASSWORD, "Supervisor"),
    *(DemoLogin(f"budget{n}", _DEMO_PASSWORD, "Budget Approver") for n in (1, 2)),
    *(DemoLogin(f"coord{n}", _DEMO_PASSWORD, "Ticket Coordinator") for n in (1, 2)),
)


@dataclass(frozen=True)
class DemoAccounts:
    """What the seed leaves in place, as the sync payloads workflow_api would receive for it."""

    roles: list[RoleData]
    users: list[UserData]


@transaction.atomic
def seed_demo_accounts() -> DemoAccounts:
    """Create the demo systems, TTS roles and users (idempotent: existing rows and passwords are left alone).

    Goes through the regular services, so the sync messages are published as for any other change; the returned
    snapshots let an in-process seed hand the same state to workflow_api without waiting for a worker.
    """
    systems = {
        code: System.objects.get_or_create(code=code, defaults={"name": name})[0] for code, name in DEMO_SYSTEMS.items()
    }
    tts = systems[settings.TTS_SYSTEM]
    roles = {
        name: Role.objects.filter(system=tts, name=name).first()
        or role_create(system=tts, name=name, permissions=DEMO_ROLE_PERMISSIONS[name])
        for name in DEMO_TTS_ROLES
    }
    users: list[User] = []
    for login in DEMO_LOGINS:
        is_admin_login = login.role == DEMO_ADMIN_ROLE
        user = User.objects.filter(username=login.username).first() or user_create(
            username=login.username,
            password=login.password,
            email=f"{login.username}@example.com",
            is_staff=is_admin_login,
            is_superuser=is_admin_login,
        )
        user_role_assign(user=user, role=roles[login.role])
        users.append(user)
    return DemoAccounts(
        roles=[selectors.role_snapshot(role=role) for role in roles.values()],
        # Re-read: each assignment above bumped the user's sync version.
        users=[selectors.user_sync_snapshot(user=User.objects.get(pk=user.pk)) for user in users],
    )
