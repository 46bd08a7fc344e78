"""Live push of new notifications to the users' open pages over the channel layer (see consumers.py)."""
from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import defaultdict
from collections.abc import Collection, Coroutine, Sequence
from typing import Any, TypeVar

from channels.layers import get_channel_layer

from . import selectors
from .models import InAppNotification
from .serializers import NotificationSerializer

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The consumer's handler for this event type is ``notifications_push``; it sends one frame per notification.
PUSH_EVENT = "notifications.push"
# Group sends in flight at once: overlaps round trips without exhausting the layer's connection pool.
MAX_CONCURRENT_SENDS = 10
# A stalled channel layer delays a stored batch's acknowledgement at most this long.
PUSH_TIMEOUT_SECONDS = 10.0


def group_name(user_id: int) -> str:
    return f"notifications_user_{user_id}"


def push_notifications(notifications: Sequence[InAppNotification]) -> None:
    """Send a stored batch to the users who have a page open: one group send per user, carrying the user's new
    notifications (oldest first) and unread count after the batch."""
    layer = get_channel_layer()
    if not notifications or layer is None:
        return
    listening = _loop.run(_users_listening(layer, {n.user_id for n in notifications}), PUSH_TIMEOUT_SECONDS)
    if not listening:
        return
    by_user: dict[int, list[dict[str, Any]]] = defaultdict(list)
    ordered = sorted((n for n in notifications if n.user_id in listening), key=lambda n: n.id)
    for payload in NotificationSerializer(ordered, many=True).data:
        by_user[payload["user_id"]].append(payload)
    counts = selectors.unread_counts(user_ids=by_user)
    events = [
        (group_name(user_id), {"type": PUSH_EVENT, "notifications": payloads, "unread_count": counts[user_id]})
        for user_id, payloads in by_user.items()
    ]
    _loop.run(_send_all(layer, events), PUSH_TIMEOUT_SECONDS)


async def _users_listening(layer: Any, user_ids: Collection[int]) -> set[int]:
    """The users with a socket in their group, asked in one pipelined round trip per Redis shard.

    Most users have no page open while their notifications are stored, and a group send costs two round trips even
    to an empty group; checking first keeps pushing cheap at ingestion rates. This reads channels_redis's group
    sorted sets through its internal ``_group_key``/``connection`` (pinned version); other layers get every user.
    """
    if not all(hasattr(layer, name) for name in ("_group_key", "consistent_hash", "connection")):
        return set(user_ids)
    by_shard: dict[int, list[int]] = defaultdict(list)
    for user_id in user_ids:
        by_shard[layer.consistent_hash(group_name(user_id))].append(user_id)
    listening: set[int] = set()
    for shard, shard_users in by_shard.items():
        async with layer.connection(shard).pipeline(transaction=False) as pipe:
            for user_id in shard_users:
                pipe.zcard(layer._group_key(group_name(user_id)))
            members = await pipe.execute()
        listening.update(user_id for user_id, count in zip(shard_users, members, strict=True) if count)
    return listening


async def _send_all(layer: Any, events: list[tuple[str, dict[str, Any]]]) -> None:
    slots = asyncio.Semaphore(MAX_CONCURRENT_SENDS)

    async def send(group: str, event: dict[str, Any]) -> None:
        async with slots:
            await layer.group_send(group, event)

    results = await asyncio.gather(*(send(group, event) for group, event in events), return_exceptions=True)
    failures = [r for r in results if isinstance(r, Exception)]
    if failures:
        logger.warning(
            "push failed", extra={"operation": "push_notifications", "failed": len(failures), "error": repr(failures[0])}
        )


class _BackgroundLoop:
    """One event loop per process, kept running in a thread. ``async_to_sync`` would start a loop per call, and
    the Redis channel layer keeps connections per loop: each batch would pay for new connections (~50 ms)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():  # a forked pool process starts its own
                self._loop, self._pid = asyncio.new_event_loop(), os.getpid()
                threading.Thread(target=self._loop.run_forever, name="channel-layer-push", daemon=True).start()
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise


_loop = _BackgroundLoop()
