"""Agent availability and role settings: the workflow engine's own assignment settings (not synced from auth).

Race-freedom of "no task goes to a user while away": a pick locks its role's pointer, then reads who is eligible
(services/assignment.py). A change here locks the user's row (against concurrent changes of the same user and
of their roles), then the pointers of all the user's roles (role_id
order, as picks do), and only then takes its time and writes. So every pick either committed before the change
took its locks (its time is earlier than the change's) or reads the change (its time is later): with many
workers no pick that saw the user available commits after the user went away. The change's time is the
``occurred_at`` of its ``agent.availability_changed`` audit event.

Follow-ups run after the change commits, each in a transaction of its own that takes task rows before pointers
(as every task action does, so they cannot deadlock with one): an unavailable user's open tasks are released and
re-assigned per each step's policy; a user who can take work again gets their roles' pending tasks. Both are
idempotent, so saving the same availability again retries them.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from django.db import transaction
from django.utils import timezone

from tts_common.base.errors import Invalid, NotFound
from tts_common.http.auth import TokenUser
from workflow_api.models import AgentAvailability, RoleReplica, RoleSettings, UserReplica, UserRole
from workflow_api.services.assignment import assign_pending_tasks, is_away, lock_cursors, release_user_tasks
from workflow_api.services.audit import audit_event, record_events


class AvailabilityData(TypedDict):
    status: str  # AgentAvailability.Status
    away_from: datetime | None
    away_until: datetime | None
    reason: str
    max_open_tasks: int | None


def availability_set(*, user_id: int, data: AvailabilityData, actor: TokenUser | None) -> AgentAvailability:
    """Replace ``user_id``'s availability; 404 for a user the engine does not know, 400 for a window that ends
    before it starts."""
    if data["away_from"] and data["away_until"] and data["away_until"] <= data["away_from"]:
        raise Invalid({"away_until": ["Must be after away_from."]})
    with transaction.atomic():
        # NO KEY UPDATE: serialises with changes of the same user (and membership syncs) but not with the key-share
        # locks that inserting tasks assigned to the user takes while holding pointers (that would deadlock).
        if UserReplica.objects.select_for_update(no_key=True).filter(pk=user_id).first() is None:
            raise NotFound("User not found.")
        roles = sorted(UserRole.objects.filter(user_id=user_id).values_list("role_id", flat=True))
        lock_cursors(roles)
        now = timezone.now()  # after the locks: see the module docstring
        previous = AgentAvailability.objects.filter(pk=user_id).values_list("status", flat=True).first()
        availability, _ = AgentAvailability.objects.update_or_create(
            user_id=user_id,
            defaults={**data, "updated_at": now, "updated_by_id": actor.id if actor else None},
        )
        _record(
            "agent.availability_changed",
            ("user", user_id),
            actor,
            now,
            user_id=user_id,
            status=data["status"],
            previous=previous or AgentAvailability.Status.ACTIVE,
            away_from=data["away_from"].isoformat() if data["away_from"] else None,
            away_until=data["away_until"].isoformat() if data["away_until"] else None,
            reason=data["reason"],
            max_open_tasks=data["max_open_tasks"],
        )
    if availability.status == AgentAvailability.Status.UNAVAILABLE:
        release_user_tasks(user_id, reason="user_unavailable")
    elif not is_away(availability.status, availability.away_from, availability.away_until, timezone.now()):
        for role_id in roles:
            assign_pending_tasks(role_id)
    return availability


@transaction.atomic
def role_settings_set(*, role_id: int, lead_user_id: int | None, actor: TokenUser | None) -> RoleSettings:
    """Name (or clear) the role's lead: a user holding the role. 404 for an unknown role."""
    if not RoleReplica.objects.filter(pk=role_id).exists():
        raise NotFound("Role not found.")
    if lead_user_id is not None and not UserRole.objects.filter(role_id=role_id, user_id=lead_user_id).exists():
        raise Invalid({"lead_user_id": ["Must be a user holding the role."]})
    now = timezone.now()
    settings, _ = RoleSettings.objects.update_or_create(
        role_id=role_id, defaults={"lead_user_id": lead_user_id, "updated_at": now}
    )
    _record("role.settings_changed", ("role", role_id), actor, now, lead_user_id=lead_user_id)
    return settings


def _record(action: str, entity: tuple[str, int], actor: TokenUser | None, now: datetime, **data: Any) -> None:
    record_events(
        [
            audit_event(
                action,
                entity_type=entity[0],
                entity_id=str(entity[1]),
                actor_id=actor.id if actor else None,
                actor_username=actor.username if actor else "",
                data=data,
                at=now,
            )
        ]
    )
