"""Writes of comments (each commits, then broadcasts to the live feed and publishes notifications) and of the copy
of tickets' participants.

Nothing leaves the process before the commit (``on_commit``), so a rolled-back write is never seen by anyone.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from functools import partial

from django.db import connection, transaction
from django.utils import timezone

from tts_common import contracts
from tts_common.base.errors import Conflict, Forbidden
from tts_common.contracts.messages import InAppNotification, TaskParticipants
from tts_common.http.auth import TokenUser, is_admin
from tts_common.messaging import outbox

from . import feed
from .models import Comment, TicketParticipant, TicketReplica
from .selectors import TicketParticipants

# `@name` not preceded by a word character or `@` (so e-mail addresses are not mentions), ending on a word
# character (so "@ana." mentions "ana"). Usernames may hold letters, digits and . + - _ as Django allows.
MENTION = re.compile(r"(?<![\w@])@([\w.+-]*\w)")
# Only a comment's first ten distinct mentions count.
MAX_MENTIONS = 10
NOTIFICATION_EXCERPT = 500


def _lock_ticket_feed(ticket_id: str) -> None:
    """Serialize comment inserts per ticket until commit, so ids commit in increasing order per ticket.

    Without it, comment 10 could commit after comment 11 was broadcast, and a client reconnecting with
    ``last_id=11`` would never get 10.
    """
    key = int.from_bytes(hashlib.sha256(f"comments:{ticket_id}".encode()).digest()[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def mentioned_usernames(text: str) -> list[str]:
    """Distinct ``@username`` mentions in order of appearance, at most :data:`MAX_MENTIONS`."""
    return list(dict.fromkeys(MENTION.findall(text)))[:MAX_MENTIONS]


def _notification(comment: Comment, *, user_id: int, task_id: str, mentioned: bool) -> InAppNotification:
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


def _notify_participants(comment: Comment, ticket: TicketParticipants, user_ids: Iterable[int], mentioned: set[int]) -> None:
    outbox.publish(
        [
            outbox.Message(
                contracts.INAPP_NOTIFICATION,
                dict(_notification(comment, user_id=user_id, task_id=ticket.task_id, mentioned=user_id in mentioned)),
            )
            for user_id in sorted(user_ids)
        ]
    )


def comment_create(*, ticket: TicketParticipants, text: str, author: TokenUser) -> Comment:
    """Create a comment on a ticket the author may see (:func:`.access.ticket_access`); after commit, broadcast
    it and notify the ticket's participants but the author, once each. A mention only changes the notice a
    participant gets: the text and its links never reach anyone who cannot open the ticket."""
    mentioned = ticket.user_ids_named(set(mentioned_usernames(text)))
    with transaction.atomic():
        _lock_ticket_feed(ticket.ticket_id)
        comment = Comment.objects.create(
            ticket_id=ticket.ticket_id, author_id=author.id, author_username=author.username, text=text
        )
        transaction.on_commit(partial(feed.broadcast, comment, "create"), robust=True)
        _notify_participants(comment, ticket, set(ticket.usernames) - {author.id}, mentioned)
    return comment


def comment_edit(*, comment: Comment, ticket: TicketParticipants, user: TokenUser, text: str) -> Comment:
    """Replace the text of one's own comment (not even admins edit others' words). Participants the edit mentions
    for the first time are notified as a new comment's mentions are."""
    with transaction.atomic():
        comment = Comment.objects.select_for_update().get(pk=comment.pk)
        if comment.author_id != user.id:
            raise Forbidden("You can only edit your own comments.")
        if comment.is_deleted:
            raise Conflict("This comment has been deleted.")
        already = set(mentioned_usernames(comment.text))
        newly_mentioned = ticket.user_ids_named(set(mentioned_usernames(text)) - already) - {user.id}
        comment.text = text
        comment.edited_at = timezone.now()
        comment.save(update_fields=["text", "edited_at"])
        transaction.on_commit(partial(feed.broadcast, comment, "edit"), robust=True)
        _notify_participants(comment, ticket, newly_mentioned, newly_mentioned)
    return comment


def comment_delete(*, comment: Comment, user: TokenUser) -> Comment:
    """Soft-delete one's own comment, or anyone's as an admin. Deleting again changes nothing."""
    with transaction.atomic():
        comment = Comment.objects.select_for_update().get(pk=comment.pk)
        if comment.author_id != user.id and not is_admin(user):
            raise Forbidden("You can only delete your own comments.")
        if comment.is_deleted:
            return comment
        comment.is_deleted = True
        comment.save(update_fields=["is_deleted"])
        transaction.on_commit(partial(feed.broadcast, comment, "delete"), robust=True)
    return comment


def ticket_participants_record(tasks: Sequence[TaskParticipants]) -> None:
    """Add the participants of these tasks' snapshots to the copy (``messaging.ticket_participants.sync``).

    Grow-only, so any number of deliveries in any order converge: tickets and participants are inserted when new
    and otherwise left alone, except a participant's username, which takes the value last received (it only
    serves to resolve @mentions). Rows go in in (ticket, user) order, so that batches meeting the same rows lock
    them in one order and cannot deadlock."""
    tickets = {task["ticket_id"]: task["task_id"] for task in tasks}
    participants = {
        (task["ticket_id"], participant["user_id"]): participant["username"]
        for task in tasks
        for participant in task["participants"]
    }
    with transaction.atomic():
        TicketReplica.objects.bulk_create(
            [TicketReplica(ticket_id=ticket_id, task_id=task_id) for ticket_id, task_id in sorted(tickets.items())],
            ignore_conflicts=True,
        )
        TicketParticipant.objects.bulk_create(
            [
                TicketParticipant(ticket_id=ticket_id, user_id=user_id, username=username)
                for (ticket_id, user_id), username in sorted(participants.items())
            ],
            update_conflicts=True,
            unique_fields=["ticket", "user_id"],
            update_fields=["username"],
        )
