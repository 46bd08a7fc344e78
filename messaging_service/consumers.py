"""``/ws/comments/{ticket_id}/``: the live comment feed of one ticket (DESIGN §5).

Refusals: the socket is accepted, then closed at once with an application close code, because browsers expose a
close code to scripts but not the HTTP status of a refused handshake. Nothing is sent before such a close.

- 4400 bad request (ticket id too long, ``last_id`` not a non-negative integer)
- 4401 missing, bad or expired JWT (also sent when the token expires while connected)
- 4404 no such ticket, or not one the user may see (:mod:`.access`; the two are not told apart)
- 4408 (later) the client fell :data:`INBOX_SIZE` events behind; reconnect with ``last_id``

Reconnect without gaps: with ``?last_id=N`` the client first gets every comment of the ticket with id > N, as
``create`` events in id order, then live events. The group is joined *before* the catch-up query, so an event
committed meanwhile is not lost: it waits in the socket's inbox, dispatched only after ``connect`` returns, and
``create`` events the catch-up already delivered are dropped by id. Edits and deletes made while away are not
replayed: refetch over REST for those.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.utils import await_many_dispatch

from tts_common.base import json_input
from tts_common.http.auth import WS_CLOSE_UNAUTHENTICATED, close_when_token_ends, token_from_scope, user_from_token

from .access import TicketNotVisible, ticket_access
from .feed import comment_event, fanout, group_name
from .models import Comment
from .selectors import comment_list

CLOSE_BAD_REQUEST = 4400
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_SLOW = 4408

# Catch-up is read and sent in pages, so a long absence does not load a whole ticket's history at once.
CATCH_UP_BATCH = 200
TICKET_ID_MAX_LENGTH = Comment._meta.get_field("ticket_id").max_length
# Events waiting for one socket. A client this far behind is closed (4408) and catches up on reconnect with
# last_id, rather than growing the server's memory without bound.
INBOX_SIZE = 100


def _feed_request(scope: dict[str, Any]) -> tuple[str, int | None]:
    """The ticket id and ``?last_id=`` (``None`` if absent); ValueError if either is malformed."""
    ticket_id: str = scope["url_route"]["kwargs"]["ticket_id"]
    if len(ticket_id) > TICKET_ID_MAX_LENGTH:
        raise ValueError("ticket id too long")
    values = parse_qs(scope.get("query_string", b"").decode()).get("last_id")
    if not values:
        return ticket_id, None
    if not (values[0].isascii() and values[0].isdigit()):
        raise ValueError("last_id is not a non-negative integer")
    return ticket_id, int(values[0])


def _catch_up_page(ticket_id: str, after_id: int) -> list[tuple[int, str]]:
    page = comment_list(ticket_id=ticket_id, after_id=after_id)[:CATCH_UP_BATCH]
    return [(comment.pk, comment_event(comment, "create")) for comment in page]


class CommentFeedConsumer(AsyncWebsocketConsumer):
    """Group events reach this consumer through :data:`.feed.fanout` and an in-process inbox, not through a
    channel-layer channel of its own (see :class:`.feed.LocalFanout` for why)."""

    group: str | None = None
    # Highest comment id the catch-up delivered: a live "create" at or below it is a duplicate.
    delivered_up_to = 0
    expiry: asyncio.Task[None] | None = None
    too_slow = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # Channels' AsyncConsumer.__call__, with the inbox where it would use a channel-layer channel.
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=INBOX_SIZE)
        try:
            await await_many_dispatch([receive, self.inbox.get], self.dispatch)
        except StopConsumer:
            pass
        finally:
            # Here rather than in disconnect(), which a handler that raised would skip.
            if self.expiry is not None:
                self.expiry.cancel()
            if self.group is not None:
                await fanout.leave(self.group, self)

    def deliver(self, event: dict[str, Any]) -> None:
        if self.too_slow:
            return
        try:
            self.inbox.put_nowait(event)
        except asyncio.QueueFull:
            self.too_slow = True
            asyncio.ensure_future(self.close(code=CLOSE_TOO_SLOW))

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its per-message ``aclose_old_connections()``: that is a hop to the one
        thread-sensitive executor thread for every event on every socket, which serializes a broadcast to N sockets
        (and the web requests queued on that thread) behind N thread switches. No handler here uses the ORM on
        the event loop; the catch-up query goes through ``database_sync_to_async``, which closes stale
        connections itself."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        await self.accept()
        token = token_from_scope(self.scope)
        user = await user_from_token(token) if token else None
        if user is None:
            await self.close(code=WS_CLOSE_UNAUTHENTICATED)
            return
        try:
            ticket_id, last_id = _feed_request(self.scope)
        except ValueError:
            await self.close(code=CLOSE_BAD_REQUEST)
            return
        try:
            await database_sync_to_async(ticket_access)(user=user, ticket_id=ticket_id)
        except TicketNotVisible:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = group_name(ticket_id)
        await fanout.join(self.group, self)
        self.expiry = close_when_token_ends(self, user)
        if last_id is not None:
            await self._catch_up(ticket_id, last_id)

    async def _catch_up(self, ticket_id: str, last_id: int) -> None:
        self.delivered_up_to = last_id
        while True:
            page = await database_sync_to_async(_catch_up_page)(ticket_id, self.delivered_up_to)
            for comment_id, event in page:
                await self.send(text_data=event)
                self.delivered_up_to = comment_id
            if len(page) < CATCH_UP_BATCH:
                return

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self._error("Binary frames are not supported; send JSON text.")
            return
        try:
            message = json_input.loads(text_data)
        except ValueError:
            await self._error("Malformed JSON.")
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self._error('A message must be a JSON object with a string "type".')
        elif message["type"] == "ping":
            await self.send(text_data=json.dumps({"type": "pong"}))
        else:
            await self._error('Unknown message type; supported: "ping".')

    async def _error(self, detail: str) -> None:
        await self.send(text_data=json.dumps({"type": "error", "detail": detail}))

    async def comment_update(self, event: dict[str, Any]) -> None:
        """A group event from :func:`.feed.broadcast`; its ``text`` is the ready-made JSON."""
        if event["action"] == "create" and event["comment_id"] <= self.delivered_up_to:
            return
        await self.send(text_data=event["text"])
