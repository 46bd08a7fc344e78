"""WebSocket ``/ws/notifications/``: pushes the caller's new notifications as they are stored.

Events: ``{"type": "notification", "notification": {...}, "unread_count": N}``. The socket is push-only.
A missing, bad or expired token, or one of a deactivated user, closes it with 4401, and so does the token expiring or
its user being deactivated while it is open.
"""
from __future__ import annotations

import asyncio
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from tts_common.http.auth import WS_CLOSE_UNAUTHENTICATED, close_when_token_ends, token_from_scope, user_from_token

from .realtime import group_name


class NotificationConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None
    expiry: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        token = token_from_scope(self.scope)
        user = await user_from_token(token) if token else None
        if user is None:
            # Accept first: a close code only reaches an open socket (a refused handshake is a bare HTTP 403).
            await self.accept()
            await self.close(code=WS_CLOSE_UNAUTHENTICATED)
            return
        # Join before accepting, so that a client that sees the socket open misses no notification.
        self.group = group_name(user.id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self.expiry = close_when_token_ends(self, user)

    async def disconnect(self, code: int) -> None:
        if self.expiry is not None:
            self.expiry.cancel()
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send_json({"type": "error", "detail": "This socket only pushes notifications; use the REST API."})

    async def notifications_push(self, event: dict[str, Any]) -> None:
        # One channel-layer event per user and stored batch (see realtime.py); one frame per notification.
        for notification in event["notifications"]:
            await self.send_json(
                {"type": "notification", "notification": notification, "unread_count": event["unread_count"]}
            )
