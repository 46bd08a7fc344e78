"""Reads of the notification service."""
from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, QuerySet

from . import conf
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


def email_types(*, user_id: int) -> list[str]:
    """The types this user receives by email, in the canonical order of DESIGN §2."""
    return email_types_by_user(user_ids=[user_id])[user_id]


def email_types_by_user(*, user_ids: Iterable[int]) -> dict[int, list[str]]:
    user_ids = set(user_ids)
    chosen = dict(
        NotificationPreference.objects.filter(user_id__in=user_ids).values_list("user_id", "email_types")
    )
    return {user_id: chosen.get(user_id, list(conf.DEFAULT_EMAIL_TYPES)) for user_id in user_ids}


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
