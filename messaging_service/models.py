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


class TicketReplica(models.Model):
    """A ticket that has a task in workflow_api, copied from ``messaging.ticket_participants.sync``: only tickets
    copied here have comments (no copy yet: the ticket is unknown to everyone, admins included)."""

    ticket_id = models.CharField(max_length=128, primary_key=True)
    task_id = models.UUIDField()  # a ticket has one task (workflow_api: external_ticket_id is unique)

    def __str__(self) -> str:
        return self.ticket_id


class TicketParticipant(models.Model):
    """A user who takes or took part in a ticket's task (owner, assignee, past assignee): they read and write its
    comments. Rows are only ever added (a past assignee stays one), so the copy is a grow-only set: applying a sync
    message again, or out of order, changes nothing."""

    # Indexed by one_participant_row_per_user.
    ticket = models.ForeignKey(TicketReplica, on_delete=models.CASCADE, related_name="participants", db_index=False)
    user_id = models.BigIntegerField()
    # As workflow_api last sent it: @mentions are resolved against the ticket's participants by username.
    username = models.CharField(max_length=150)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["ticket", "user_id"], name="one_participant_row_per_user")]

    def __str__(self) -> str:
        return f"{self.username} on {self.ticket_id}"
