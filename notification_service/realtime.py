"""Live push of new notifications to the users' open pages over the channel layer (see consumers.py)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from . import selectors
from .models import InAppNotification
from .serializers import NotificationSerializer

logger = logging.getLogger(__name__)

# The consumer's handler for this event type is ``notification_push``.
PUSH_EVENT = "notification.push"


def group_name(user_id: int) -> str:
    return f"notifications_user_{user_id}"


def push_notifications(notifications: Sequence[InAppNotification]) -> None:
    """Send each notification to its user's group, with the user's unread count after the whole batch."""
    if not notifications:
        return
    layer = get_channel_layer()
    if layer is None:
        return
    counts = selectors.unread_counts(user_ids={n.user_id for n in notifications})
    events = [
        (
            group_name(n.user_id),
            {"type": PUSH_EVENT, "notification": NotificationSerializer(n).data, "unread_count": counts[n.user_id]},
        )
        for n in sorted(notifications, key=lambda n: n.id)
    ]
    async_to_sync(_send_all)(layer, events)


async def _send_all(layer: Any, events: list[tuple[str, dict[str, Any]]]) -> None:
    # One event loop for the whole batch; the sends overlap instead of paying a round trip each.
    results = await asyncio.gather(*(layer.group_send(group, event) for group, event in events), return_exceptions=True)
    failures = [r for r in results if isinstance(r, Exception)]
    if failures:
        logger.warning(
            "push failed", extra={"operation": "push_notifications", "failed": len(failures), "error": repr(failures[0])}
        )
