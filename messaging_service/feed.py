"""The live comment feed: group naming, the ``comment_update`` event (DESIGN §5), and per-process fan-out.

Every web process with a socket on a ticket joins that ticket's channel-layer group (Redis in the real stack), so a
comment written through one process reaches sockets held by any other.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from typing import Any, Literal, Protocol

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from .models import Comment
from .serializers import CommentOutputSerializer

logger = logging.getLogger(__name__)

Action = Literal["create", "edit", "delete"]

GROUP_PREFIX = "comments_"
# Channels allows ASCII alphanumerics, hyphen, underscore and period in group names, shorter than 100 characters.
_SAFE_TICKET_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def group_name(ticket_id: str) -> str:
    """``comments_{ticket_id}``, or ``comments_{sha256 hex}`` for ids Channels would refuse (deterministic: every
    process derives the same name). A safe raw id is at most 64 characters, so it can only equal a digest by
    being a SHA-256 preimage of another ticket id."""
    if _SAFE_TICKET_ID.fullmatch(ticket_id):
        return GROUP_PREFIX + ticket_id
    return GROUP_PREFIX + hashlib.sha256(ticket_id.encode()).hexdigest()


def comment_event(comment: Comment, action: Action) -> str:
    """The event as JSON text, serialized once per broadcast rather than once per socket."""
    return json.dumps(
        {
            "type": "comment_update",
            "action": action,
            "comment": CommentOutputSerializer(comment).data,
            "timestamp": timezone.now().isoformat(),
        }
    )


def broadcast(comment: Comment, action: Action) -> None:
    """Send the event to the ticket's group (called after commit, from sync code)."""
    async_to_sync(get_channel_layer().group_send)(
        group_name(comment.ticket_id),
        # comment_id and action travel beside the text so consumers can dedupe without parsing it.
        {
            "type": "comment.update",
            "group": group_name(comment.ticket_id),
            "comment_id": comment.pk,
            "action": action,
            "text": comment_event(comment, action),
        },
    )


class Listener(Protocol):
    def deliver(self, event: dict[str, Any]) -> None:
        """Take one group event without blocking."""


class LocalFanout:
    """One channel-layer channel per process, joined to each group that has a socket here; it hands every event to
    the process's listeners of that group.

    With a channel per socket instead, channels-redis wakes each socket's own receive for each event (two tasks
    and an asyncio lock hand-off per socket, quadratic in sockets on one ticket); here an event costs one receive.
    Group membership in Redis expires (channels-redis ``group_expiry``, a day by default), so it is renewed when
    a socket joins after :attr:`RENEW_AFTER` seconds.
    """

    RENEW_AFTER = 3600.0

    def __init__(self) -> None:
        self._channel: str | None = None
        self._listeners: dict[str, set[Listener]] = {}
        self._joined_at: dict[str, float] = {}
        self._lock: asyncio.Lock | None = None

    async def join(self, group: str, listener: Listener) -> None:
        """From the return on, ``listener`` gets every event sent to ``group``."""
        async with self._membership_lock():
            layer = get_channel_layer()
            if self._channel is None:
                self._channel = await layer.new_channel()
                asyncio.get_running_loop().create_task(self._pump(self._channel))
            now = asyncio.get_running_loop().time()
            if now - self._joined_at.get(group, -self.RENEW_AFTER) >= self.RENEW_AFTER:
                await layer.group_add(group, self._channel)
                self._joined_at[group] = now
            self._listeners.setdefault(group, set()).add(listener)

    async def leave(self, group: str, listener: Listener) -> None:
        async with self._membership_lock():
            listeners = self._listeners.get(group, set())
            listeners.discard(listener)
            if not listeners and group in self._joined_at:
                del self._listeners[group], self._joined_at[group]
                await get_channel_layer().group_discard(group, self._channel)

    def _membership_lock(self) -> asyncio.Lock:
        # Created on first use, inside the server's event loop. It serializes joins and leaves, so a group is
        # never discarded in Redis while a socket is joining it, and a connect storm makes one group_add per group.
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def _pump(self, channel: str) -> None:
        layer = get_channel_layer()
        while True:
            try:
                event = await layer.receive(channel)
            except Exception:
                # Redis unreachable: keep the sockets; clients that miss events catch up with last_id later.
                logger.exception("feed receive failed; retrying", extra={"operation": "comment_feed"})
                await asyncio.sleep(1)
                continue
            for listener in list(self._listeners.get(event.get("group", ""), ())):
                listener.deliver(event)


# This process's fan-out: the feed's sockets all live in the server's one event loop.
fanout = LocalFanout()
