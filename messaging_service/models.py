from django.db import models
from django.utils import timezone


class Comment(models.Model):
    """A comment on an HDTS ticket.

    messaging_service owns no users: the author's id and username are copied from the JWT at write time, so the
    feed renders without asking the auth service. ``text`` is stored exactly as typed; every renderer escapes it.
    """

    # The HDTS ticket id (a task's ``external_ticket_id``): the one id every service knows.
    ticket_id = models.CharField(max_length=128)
    author_id = models.BigIntegerField()
    author_username = models.CharField(max_length=150)
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(null=True, blank=True)
    # Soft delete: the row stays so that ids in a ticket's feed have no holes a reconnecting client could misread.
    is_deleted = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["ticket_id", "id"], name="comment_ticket_id_idx")]

    def __str__(self) -> str:
        return f"Comment {self.pk} on {self.ticket_id} by {self.author_username}"
