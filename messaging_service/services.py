"""Writes of comments: each commits, then broadcasts to the live feed and publishes notifications.

Nothing leaves the process before the commit (``on_commit``), so a rolled-back write is never seen by anyone.
"""
from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from functools import partial

from django.db import connection, transaction
from django.utils import timezone
from rest_framework import exceptions, status

from tts_common import bus, contracts
from tts_common.auth import TokenUser, is_admin
from tts_common.auth_client import auth_service_url, service_token
from tts_common.messages import InAppNotification

from . import feed, integrations
from .models import Comment
from .selectors import known_author_ids

logger = logging.getLogger(__name__)

# `@name` not preceded by a word character or `@` (so e-mail addresses are not mentions), ending on a word
# character (so "@ana." mentions "ana"). Usernames may hold letters, digits and . + - _ as Django allows.
MENTION = re.compile(r"(?<![\w@])@([\w.+-]*\w)")
# Bounds the user lookups one comment can cause.
MAX_MENTIONS = 10
NOTIFICATION_EXCERPT = 500


class CommentDeleted(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This comment has been deleted."
    default_code = "conflict"


def _lock_ticket_feed(ticket_id: str) -> None:
    """Serialize comment inserts per ticket until commit, so ids commit in increasing order per ticket.

    Without it, comment 10 could commit after comment 11 was broadcast, and a client reconnecting with
    ``last_id=11`` would never get 10. SQLite already runs one write transaction at a time.
    """
    if connection.vendor != "postgresql":
        return
    key = int.from_bytes(hashlib.sha256(f"comments:{ticket_id}".encode()).digest()[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def mentioned_usernames(text: str) -> list[str]:
    """Distinct ``@username`` mentions in order of appearance, at most :data:`MAX_MENTIONS`."""
    return list(dict.fromkeys(MENTION.findall(text)))[:MAX_MENTIONS]


def _resolve_mentions(usernames: list[str]) -> dict[str, int]:
    """Usernames -> user ids, from the auth service (``GET /api/v1/users/?search=``, with a service token, since
    agents may not list users); while it is unreachable, from the authors messaging_service has seen. An
    unresolvable mention is dropped: the comment matters more than the ping."""
    if not usernames:
        return {}
    token = service_token("messaging_service")
    resolved: dict[str, int] = {}
    try:
        for username in usernames:
            user_id = integrations.lookup_user_id(auth_service_url(), username=username, token=token)
            if user_id is not None:
                resolved[username] = user_id
    except integrations.UpstreamUnavailable:
        logger.warning("auth service unavailable; mentions resolved locally", extra={"operation": "comment_create"})
        return known_author_ids(usernames=usernames)
    return resolved


def _notification(comment: Comment, *, user_id: int, task_id: str | None, mentioned: bool) -> InAppNotification:
    subject = (
        f"{comment.author_username} mentioned you on ticket {comment.ticket_id}"
        if mentioned
        else f"New comment on ticket {comment.ticket_id}"
    )
    return InAppNotification(
        user_id=user_id,
        subject=subject,
        message=comment.text[:NOTIFICATION_EXCERPT],
        notification_type="comment_added",
        related_task_id=task_id,
        related_ticket_id=comment.ticket_id,
        metadata={
            "comment_id": comment.pk,
            "author_id": comment.author_id,
            "author_username": comment.author_username,
            "mentioned": mentioned,
        },
    )


def comment_create(*, ticket_id: str, text: str, author: TokenUser, participants: Mapping[int, str]) -> Comment:
    """Create a comment; after commit, broadcast it and notify the ticket's participants (``participants``: user id
    -> task id) and the users it mentions, except the author, once each."""
    # Resolved before the transaction: HTTP lookups must not hold the ticket's lock.
    mentioned = set(_resolve_mentions(mentioned_usernames(text)).values())
    recipients = (set(participants) | mentioned) - {author.id}
    any_task_id = next(iter(participants.values()), None)
    with transaction.atomic():
        _lock_ticket_feed(ticket_id)
        comment = Comment.objects.create(
            ticket_id=ticket_id, author_id=author.id, author_username=author.username, text=text
        )
        transaction.on_commit(partial(feed.broadcast, comment, "create"), robust=True)
        for user_id in sorted(recipients):
            bus.publish_on_commit(
                contracts.INAPP_NOTIFICATION,
                **_notification(
                    comment,
                    user_id=user_id,
                    task_id=participants.get(user_id, any_task_id),
                    mentioned=user_id in mentioned,
                ),
            )
    return comment


def comment_edit(*, comment: Comment, user: TokenUser, text: str, participants: Mapping[int, str]) -> Comment:
    """Replace the text of one's own comment (not even admins edit others' words). Users the edit mentions for the
    first time are notified as a new comment's mentions are (``participants`` as for :func:`comment_create`)."""
    # Resolved before the transaction (HTTP lookups must not hold the row lock), against the text as read; the
    # locked row's text decides which mentions are new.
    candidates = [name for name in mentioned_usernames(text) if name not in mentioned_usernames(comment.text)]
    resolved = _resolve_mentions(candidates)
    with transaction.atomic():
        comment = Comment.objects.select_for_update().get(pk=comment.pk)
        if comment.author_id != user.id:
            raise exceptions.PermissionDenied("You can only edit your own comments.")
        if comment.is_deleted:
            raise CommentDeleted()
        already = set(mentioned_usernames(comment.text))
        newly_mentioned = {user_id for name, user_id in resolved.items() if name not in already} - {user.id}
        comment.text = text
        comment.edited_at = timezone.now()
        comment.save(update_fields=["text", "edited_at"])
        transaction.on_commit(partial(feed.broadcast, comment, "edit"), robust=True)
        any_task_id = next(iter(participants.values()), None)
        for user_id in sorted(newly_mentioned):
            bus.publish_on_commit(
                contracts.INAPP_NOTIFICATION,
                **_notification(
                    comment, user_id=user_id, task_id=participants.get(user_id, any_task_id), mentioned=True
                ),
            )
    return comment


def comment_delete(*, comment: Comment, user: TokenUser) -> Comment:
    """Soft-delete one's own comment, or anyone's as an admin. Deleting again changes nothing."""
    with transaction.atomic():
        comment = Comment.objects.select_for_update().get(pk=comment.pk)
        if comment.author_id != user.id and not is_admin(user):
            raise exceptions.PermissionDenied("You can only delete your own comments.")
        if comment.is_deleted:
            return comment
        comment.is_deleted = True
        comment.save(update_fields=["is_deleted"])
        transaction.on_commit(partial(feed.broadcast, comment, "delete"), robust=True)
    return comment
