"""The shared package's one table: messages the broker could not take after their transaction committed."""
from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class UnsentMessage(models.Model):
    """A task message published after its transaction committed that the broker still refused after the publisher's
    retries (an outage longer than ~40 s). Its transaction has committed, so this row is its only copy: the resend
    job (``tts_common.unsent``) publishes it once the broker is back, then deletes it."""

    task = models.CharField(max_length=200)
    queue = models.CharField(max_length=200)
    args = models.JSONField(default=list, encoder=DjangoJSONEncoder)
    kwargs = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    correlation_id = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.task} → {self.queue} ({self.created_at:%Y-%m-%d %H:%M:%S})"


class DatasetMarker(models.Model):
    """Which generators wrote this database's data ("demo" for ``seed_demo``; a generated history would add its
    own). Generators write one in the transaction that writes their data, and refuse a database that holds users or
    tasks but no marker: that data was entered by people, and demo logins with published passwords (a superuser among
    them) must never be added to it. Here, in the shared package, because generators are project-level commands that
    span the services (tts_common.datasets)."""

    generator = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.generator} ({self.created_at:%Y-%m-%d %H:%M:%S})"


class AccountState(models.Model):
    """Whether a user account may use its tokens, as every service's token check reads it (tts_common.accounts).

    Access tokens are verified locally and live for minutes; this row is how a deactivation or a password change
    reaches every service before they expire. The auth service writes it in the same transaction as the user (tts_common.accounts.
    account_state_set); a token whose user has no row is refused."""

    user_id = models.BigIntegerField(primary_key=True)  # the auth service's user id
    is_active = models.BooleanField()
    # Tokens issued (``iat``) before this Unix second are refused: set when the password changes. 0: none.
    tokens_not_before = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"user {self.user_id}: {'active' if self.is_active else 'inactive'}"
