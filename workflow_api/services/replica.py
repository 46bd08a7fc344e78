"""The local replicas of the auth service's roles and users (DESIGN §2 role sync messages).

Messages arrive at least once and in any order; each carries a version, and an older (or equal) version never
overwrites a newer one. Roles use a conditional UPDATE (WHERE version < new); users are applied under a row lock,
because what changed (activation, role membership) decides which follow-up work runs.

Decisions:
- A deactivated user gets no new work and *releases* their open tasks: they go round-robin to the other users
  of each step's role (or back to pending, admins told), so nothing waits on someone who has left.
- A user removed from a role (but still active) keeps the tasks they hold; they simply get no new work from it.
- A deactivated role hands out no new work; tasks already held stay with their holders.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from tts_common.contracts.messages import RoleData, UserData
from workflow_api.models import RoleReplica, UserReplica, UserRole
from workflow_api.services.assignment import assign_pending_tasks, release_user_tasks


@transaction.atomic
def apply_role(role_data: RoleData) -> bool:
    """Store a role; False if the stored version is the same or newer (the message is ignored)."""
    role_id, version = role_data["role_id"], role_data["version"]
    fields = {
        "system": role_data["system"],
        "name": role_data["name"],
        "permissions": role_data["permissions"],
        "is_active": role_data["is_active"],
        "version": version,
    }
    applied = RoleReplica.objects.filter(pk=role_id, version__lt=version).update(**fields)
    if not applied:
        _, created = RoleReplica.objects.get_or_create(pk=role_id, defaults=fields)
        # Not created: the row exists (maybe inserted by a concurrent worker just now), so compare versions again.
        applied = created or RoleReplica.objects.filter(pk=role_id, version__lt=version).update(**fields)
    if applied and role_data["is_active"]:
        # In the same transaction: should assigning fail, the redelivered message applies the role again.
        assign_pending_tasks(role_id)
    return bool(applied)


def apply_user_snapshots(snapshots: Sequence[UserData]) -> None:
    """Apply full snapshots of users' roles; per user only the newest one counts, and only if newer than stored.

    Runs in one transaction, users locked in user_id order. In it, each deactivated user's tasks are released
    and each role that gained an active user gets its pending tasks assigned: should that fail, the whole batch
    rolls back and is redelivered, rather than leaving the follow-up undone behind an applied version.
    """
    newest: dict[int, UserData] = {}
    for snapshot in snapshots:
        current = newest.get(snapshot["user_id"])
        if current is None or snapshot["version"] > current["version"]:
            newest[snapshot["user_id"]] = snapshot
    gained: set[int] = set()
    deactivated: list[int] = []
    with transaction.atomic():
        for user_id in sorted(newest):
            outcome = _apply_user(newest[user_id])
            if outcome is not None:
                gained |= outcome[0]
                if outcome[1]:
                    deactivated.append(user_id)
        for user_id in deactivated:
            release_user_tasks(user_id)
        for role_id in sorted(gained):
            assign_pending_tasks(role_id)


def _apply_user(snapshot: UserData) -> tuple[set[int], bool] | None:
    """Apply one snapshot; None if outdated, else (roles that gained this active user, user was deactivated)."""
    user_id = snapshot["user_id"]
    # A placeholder that any real version beats, so that there is always a row to lock.
    UserReplica.objects.bulk_create(
        [UserReplica(user_id=user_id, username=snapshot["username"], is_active=False, version=-1)],
        ignore_conflicts=True,
    )
    user = UserReplica.objects.select_for_update().get(pk=user_id)
    if user.version >= snapshot["version"]:
        return None
    was_active = user.is_active
    user.username = snapshot["username"]
    user.email = snapshot["email"] or ""
    user.is_active = snapshot["is_active"]
    user.version = snapshot["version"]
    user.save(update_fields=["username", "email", "is_active", "version"])

    roles = {role["role_id"]: role for role in snapshot["system_roles"]}
    # A role may be known here only from snapshots until its own message arrives (version 0 loses to any).
    RoleReplica.objects.bulk_create(
        [RoleReplica(role_id=r["role_id"], system=r["system"], name=r["role_name"], version=0) for r in roles.values()],
        ignore_conflicts=True,
    )
    held = set(UserRole.objects.filter(user_id=user_id).values_list("role_id", flat=True))
    UserRole.objects.filter(user_id=user_id).exclude(role_id__in=roles).delete()
    UserRole.objects.bulk_create(
        [
            UserRole(user_id=user_id, role_id=role_id, assigned_at=_assigned_at(role.get("assigned_at")))
            for role_id, role in roles.items()
            if role_id not in held
        ],
        ignore_conflicts=True,
    )
    if not user.is_active:
        return set(), was_active
    return (set(roles) if not was_active else set(roles) - held), False


def _assigned_at(value: str | None) -> datetime:
    parsed = parse_datetime(value) if value else None
    return parsed if parsed and parsed.tzinfo else timezone.now()
