"""Writes of business calendars. A calendar in use may change (hours, time zone, holidays): the deadlines of the
open tasks of every workflow using it are then recomputed from their pause logs (services/deadlines.py)."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, TypedDict
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from tts_common.base.errors import Conflict, Invalid, NotFound
from tts_common.http.auth import TokenUser
from workflow_api.business_time import Schedule, weekly_hours_errors
from workflow_api.models import AuditEvent, BusinessCalendar
from workflow_api.services.audit import audit_event, record_events
from workflow_api.services.deadlines import recompute_open_tasks


class CalendarData(TypedDict, total=False):
    name: str
    time_zone: str
    weekly_hours: dict[str, list[list[str]]]
    holidays: list[date]


_FIELDS = ("name", "time_zone", "weekly_hours", "holidays")
_SCHEDULE_FIELDS = {"time_zone", "weekly_hours", "holidays"}


def calendar_create(*, actor: TokenUser, data: CalendarData) -> BusinessCalendar:
    calendar = BusinessCalendar()
    with transaction.atomic():
        _apply(calendar, data)
        _save(calendar)
        record_events([_event("calendar.created", calendar, actor)])
    return calendar


def calendar_update(*, calendar_id: int, actor: TokenUser, data: CalendarData) -> BusinessCalendar:
    """Change a calendar; when its hours, zone or holidays change, recompute the open tasks of its workflows
    (after the change commits, a batch per transaction: see :func:`recompute_open_tasks`)."""
    with transaction.atomic():
        calendar = BusinessCalendar.objects.select_for_update().filter(pk=calendar_id).first()
        if calendar is None:
            raise NotFound("Calendar not found.")
        _apply(calendar, data)
        _save(calendar)
        changed = sorted(set(data) & _SCHEDULE_FIELDS)
        record_events([_event("calendar.updated", calendar, actor, changed=sorted(data))])
    if changed:
        workflow_ids = list(calendar.workflows.values_list("pk", flat=True))
        recompute_open_tasks(workflow_ids=workflow_ids, now=timezone.now(), reason=f"calendar {calendar.pk} changed")
    return calendar


def calendar_unsaved(*, data: CalendarData) -> BusinessCalendar:
    """A calendar checked as a save would check it, never saved: the impact replay's proposed calendar."""
    calendar = BusinessCalendar(name=data.get("name", "Proposed calendar"))
    _apply(calendar, data)
    return calendar


@transaction.atomic
def calendar_delete(*, calendar_id: int, actor: TokenUser) -> None:
    calendar = BusinessCalendar.objects.select_for_update().filter(pk=calendar_id).first()
    if calendar is None:
        raise NotFound("Calendar not found.")
    record_events([_event("calendar.deleted", calendar, actor)])
    try:
        calendar.delete()
    except ProtectedError as exc:
        raise Conflict("The calendar is used by workflows; give them another calendar first.") from exc


def _apply(calendar: BusinessCalendar, data: CalendarData) -> None:
    given: Mapping[str, Any] = data  # read field by field
    for field in _FIELDS:
        if field in given:
            value = given[field]
            setattr(calendar, field, sorted({d.isoformat() for d in value}) if field == "holidays" else value)
    try:
        ZoneInfo(calendar.time_zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Invalid({"time_zone": [f"Unknown IANA time zone {calendar.time_zone!r}."]}) from exc
    day_errors = weekly_hours_errors(calendar.weekly_hours)
    if day_errors:
        raise Invalid({"weekly_hours": day_errors})
    try:
        Schedule.build(calendar.time_zone, calendar.weekly_hours, calendar.holidays)
    except ValueError as exc:
        raise Invalid({"weekly_hours": [str(exc)]}) from exc
    calendar.__dict__.pop("schedule", None)  # the cached Schedule of the old values


def _save(calendar: BusinessCalendar) -> None:
    try:
        with transaction.atomic():
            calendar.save()
    except IntegrityError as exc:
        raise Invalid({"name": ["A calendar with this name exists."]}) from exc


def _event(action: str, calendar: BusinessCalendar, actor: TokenUser, **data: Any) -> AuditEvent:
    return audit_event(
        action,
        entity_type="calendar",
        entity_id=str(calendar.pk),
        actor_id=actor.id,
        actor_username=actor.username,
        data={
            "name": calendar.name,
            "time_zone": calendar.time_zone,
            "weekly_hours": calendar.weekly_hours,
            "holidays": calendar.holidays,
            **data,
        },
    )
