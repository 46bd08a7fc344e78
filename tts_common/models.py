"""The shared package's tables: the outbox, dataset markers, account states."""
from __future__ import annotations

from django.db import models
from django.db.models import Func, Q, Value
from django.db.models.functions import Now

POSITION_SEQUENCE = "tts_common_outbox_position"


class OutboxMessage(models.Model):
    """A task message decided in a transaction, written in that transaction and deleted once the broker confirmed
    it (:mod:`tts_common.messaging.outbox`). A row that stays was left by a process that died or a broker that refused it: the
    relay publishes it. ``id`` is the message's Celery task id, which consumers deduplicate on."""

    id = models.UUIDField(primary_key=True)
    # Commit order among messages of one ordering key (rows are written under the lock of what they are about).
    position = models.BigIntegerField(db_default=Func(Value(POSITION_SEQUENCE), function="nextval"), editable=False)
    task = models.CharField(max_length=200)
    queue = models.CharField(max_length=200)
    body = models.TextField()  # the protocol-2 body as JSON text, sent as it is
    correlation_id = models.CharField(max_length=200, blank=True)
    # Messages sharing a key (a ticket's status messages) leave in commit order; null: any order.
    ordering_key = models.CharField(max_length=200, null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        indexes = [
            models.Index(fields=["position"], name="outbox_position_idx"),
            models.Index(fields=["ordering_key"], condition=Q(ordering_key__isnull=False), name="outbox_ordering_key_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.task} → {self.queue} ({self.id})"


class DatasetMarker(models.Model):
    """Which generators wrote this database's data ("demo" for ``seed_demo``; a generated history would add its
    own). Generators write one in the transaction that writes their data, and refuse a database that holds users or
    tasks but no marker: that data was entered by people, and demo logins with published passwords (a superuser among
    them) must never be added to it. Here, in the shared package, because generators are project-level commands that
    span the services (tts_common.base.datasets)."""

    generator = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.generator} ({self.created_at:%Y-%m-%d %H:%M:%S})"


class AccountState(models.Model):
    """Whether a user account may use its tokens, as every service's token check reads it (tts_common.base.accounts).

    Access tokens are verified locally and live for minutes; this row is how a deactivation or a password change
    reaches every service before they expire. The auth service writes it in the same transaction as the user (tts_common.base.accounts.
    account_state_set); a token whose user has no row is refused."""

    user_id = models.BigIntegerField(primary_key=True)  # the auth service's user id
    is_active = models.BooleanField()
    # Tokens issued (``iat``) before this Unix second are refused: set when the password changes. 0: none.
    tokens_not_before = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"user {self.user_id}: {'active' if self.is_active else 'inactive'}"
