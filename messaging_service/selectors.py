"""Reads of comments."""
from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from .models import Comment


def comment_list(*, ticket_id: str, after_id: int | None = None) -> QuerySet[Comment]:
    """A ticket's comments, oldest first (ids grow in commit order per ticket); only those after ``after_id``."""
    comments = Comment.objects.filter(ticket_id=ticket_id).order_by("id")
    if after_id is not None:
        comments = comments.filter(id__gt=after_id)
    return comments


def comment_get(*, comment_id: int) -> Comment:
    return get_object_or_404(Comment, pk=comment_id)


def known_author_ids(*, usernames: Iterable[str]) -> dict[str, int]:
    """Usernames -> user ids of people who have commented here (copied from their JWTs). A username seen with
    more than one id (renamed and reused) is ambiguous and left out."""
    pairs = set(
        Comment.objects.filter(author_username__in=list(usernames)).values_list("author_username", "author_id")
    )
    ids: dict[str, set[int]] = {}
    for username, author_id in pairs:
        ids.setdefault(username, set()).add(author_id)
    return {username: found.pop() for username, found in ids.items() if len(found) == 1}
