"""Reads of the notification service."""
from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, QuerySet

from .models import EmailDelivery, InAppNotification, NotificationPreference, RejectedMessage


def notification_list(*, user_id: int, unread: bool | None = None, notification_type: str | None = None) -> QuerySet[InAppNotification]:
    """One user's notifications, newest first."""
    notifications = InAppNotification.objects.filter(user_id=user_id)
    if unread is not None:
        notifications = notifications.filter(is_read=not unread)
    if notification_type:
        notifications = notifications.filter(notification_type=notification_type)
    return notifications.order_by("-created_at", "-id")


def notification_get(*, user_id: int, notification_id: int) -> InAppNotification | None:
    """The notification if it belongs to this user: another user's is indistinguishable from a missing one."""
    return InAppNotification.objects.filter(user_id=user_id, id=notification_id).first()


def unread_count(*, user_id: int) -> int:
    return InAppNotification.objects.filter(user_id=user_id, is_read=False).count()


def unread_counts(*, user_ids: Iterable[int]) -> dict[int, int]:
    """Unread counts of many users in one query (users with none are 0)."""
    user_ids = set(user_ids)
    counts = dict.fromkeys(user_ids, 0)
    rows = (
        InAppNotification.objects.filter(user_id__in=user_ids, is_read=False)
        .values("user_id")
        .annotate(n=Count("id"))
        .values_list("user_id", "n")
    )
    counts.update(rows)
    return counts


def preference_get(*, user_id: int) -> NotificationPreference:
    """The user's preferences; an unsaved row of defaults for a user who never set any."""
    return preferences_by_user(user_ids=[user_id])[user_id]


def preferences_by_user(*, user_ids: Iterable[int]) -> dict[int, NotificationPreference]:
    user_ids = set(user_ids)
    chosen = {p.user_id: p for p in NotificationPreference.objects.filter(user_id__in=user_ids)}
    return {user_id: chosen.get(user_id) or NotificationPreference(user_id=user_id) for user_id in user_ids}


def delivery_list(*, status: str | None = None, user_id: int | None = None) -> QuerySet[EmailDelivery]:
    deliveries = EmailDelivery.objects.select_related("notification")
    if status:
        deliveries = deliveries.filter(status=status)
    if user_id is not None:
        deliveries = deliveries.filter(user_id=user_id)
    return deliveries.order_by("-created_at", "-id")


def delivery_get(*, delivery_id: int) -> EmailDelivery | None:
    return EmailDelivery.objects.filter(id=delivery_id).first()


def rejected_message_list() -> QuerySet[RejectedMessage]:
    return RejectedMessage.objects.order_by("-created_at", "-id")
