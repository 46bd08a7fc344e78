"""Users' notification preferences, and the email plan they give each new notification."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from tts_common.contracts.messages import NOTIFICATION_TYPES

from .. import conf
from ..models import EmailMode, NotificationPreference


@dataclass(frozen=True)
class EmailPlan:
    """The email of a new notification: its mode, and when it is due if not now."""

    mode: str
    not_before: datetime | None = None


def email_plan(preference: NotificationPreference, notification_type: str, now: datetime) -> EmailPlan | None:
    """How a notification stored ``now`` is emailed, or None for no email.

    An ``if_unread`` email is due after the user's delay; an email due inside the user's quiet hours waits for their
    end (unless its type is exempt). A digest-mode notification waits for the digest, which ignores quiet hours
    (its hour is the user's own choice).
    """
    mode = preference.email_mode(notification_type)
    if mode == EmailMode.OFF:
        return None
    if mode == EmailMode.DIGEST:
        return EmailPlan(mode)
    due = now + conf.unread_delay(preference.unread_delay_minutes) if mode == EmailMode.IF_UNREAD else now
    if notification_type not in preference.quiet_hours_exempt_types:
        due = preference.quiet_until(due) or due
    return EmailPlan(mode, due if due > now else None)


def update_preferences(
    *,
    user_id: int,
    email_types: Sequence[str] | None = None,
    email_modes: dict[str, str] | None = None,
    quiet_hours_exempt_types: Sequence[str] | None = None,
    **fields: Any,
) -> NotificationPreference:
    """Change the given preferences of the user and keep the others.

    ``email_modes`` changes the modes of the types it names. ``email_types`` is the older on/off form: a listed type
    keeps its email mode, or becomes ``immediate`` if it had none; every other type becomes ``off``. ``fields``
    are the other columns of :class:`NotificationPreference` (validated by the caller).
    """
    with transaction.atomic():
        preference, _ = NotificationPreference.objects.select_for_update().get_or_create(user_id=user_id)
        modes = preference.all_email_modes()
        if email_types is not None:
            listed = set(email_types)
            modes = {
                t: (EmailMode.IMMEDIATE if mode == EmailMode.OFF else mode) if t in listed else EmailMode.OFF
                for t, mode in modes.items()
            }
        modes.update(email_modes or {})
        preference.email_modes = {t: str(mode) for t, mode in modes.items()}
        if quiet_hours_exempt_types is not None:
            exempt = set(quiet_hours_exempt_types)
            preference.quiet_hours_exempt_types = [t for t in NOTIFICATION_TYPES if t in exempt]
        for name, value in fields.items():
            setattr(preference, name, value)
        preference.save()
    return preference
