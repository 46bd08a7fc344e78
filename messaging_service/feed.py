"""The live comment feed: group naming and the ``comment_update`` event (DESIGN §5).

Every web process joins the same channel-layer group (Redis in the real stack), so a comment written through one
process reaches sockets held by any other.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from typing import Literal

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
        {"type": "comment.update", "comment_id": comment.pk, "action": action, "text": comment_event(comment, action)},
    )
