"""Reads of comments and of the copy of tickets' participants."""
from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from .models import Comment, TicketParticipant, TicketReplica


def comment_list(*, ticket_id: str, after_id: int | None = None) -> QuerySet[Comment]:
    """A ticket's comments, oldest first (ids grow in commit order per ticket); only those after ``after_id``."""
    comments = Comment.objects.filter(ticket_id=ticket_id).order_by("id")
    if after_id is not None:
        comments = comments.filter(id__gt=after_id)
    return comments


def comment_get(*, comment_id: int) -> Comment | None:
    return Comment.objects.filter(pk=comment_id).first()


@dataclass(frozen=True)
class TicketParticipants:
    """A ticket as messaging_service knows it: its task and who takes or took part in it."""

    ticket_id: str
    task_id: str
    usernames: dict[int, str]  # user id -> username

    def user_ids_named(self, usernames: set[str]) -> set[int]:
        return {user_id for user_id, username in self.usernames.items() if username in usernames}


def ticket_participants(*, ticket_id: str) -> TicketParticipants | None:
    """The ticket's participants; ``None`` if workflow_api has sent no copy of it (yet)."""
    ticket = TicketReplica.objects.filter(pk=ticket_id).first()
    if ticket is None:
        return None
    rows = TicketParticipant.objects.filter(ticket_id=ticket_id).values_list("user_id", "username")
    return TicketParticipants(ticket_id=ticket_id, task_id=str(ticket.task_id), usernames=dict(rows))
