"""Users, systems, roles per system and user-role assignments: the auth service's own tables."""
from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from tts_common.base.permissions import PERMISSIONS, unknown_permissions


class User(AbstractUser):
    # Bumped (under the row lock) on every change to the user's sync snapshot; the snapshot carries it so consumers
    # can drop stale, redelivered or reordered messages.
    sync_version = models.BigIntegerField(default=0, editable=False)

    class Meta(AbstractUser.Meta):
        constraints = [
            # Blank emails are allowed (Django's default), so uniqueness only applies once one is set. Emails are
            # stored lowercased (see clean()), which makes this constraint case-insensitive in effect.
            models.UniqueConstraint(
                fields=["email"],
                condition=~Q(email=""),
                name="user_unique_email_when_set",
                violation_error_code="unique",
                violation_error_message="A user with that email already exists.",
            )
        ]

    def clean(self) -> None:
        super().clean()
        self.email = self.email.strip().lower()

    # Every way of replacing a password goes through these two (services, forms, createsuperuser): flagged here, the
    # save ends the user's sessions (auth_service.receivers).
    def set_password(self, raw_password: str | None) -> None:
        super().set_password(raw_password)
        self._password_replaced = True

    def set_unusable_password(self) -> None:
        super().set_unusable_password()
        self._password_replaced = True


class System(models.Model):
    """A system that roles belong to: TTS, HDTS, AMS, BMS."""

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


def validate_permission_names(value: Any) -> None:
    # The JSON column would take anything; consumers of role_data expect a list of names, and only the names of
    # tts_common.base.permissions mean something.
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ValidationError("Permissions must be a list of strings.", code="invalid")
    unknown = unknown_permissions(value)
    if unknown:
        raise ValidationError(
            "Unknown permissions: %(names)s (known: %(known)s).",
            code="unknown_permission",
            params={"names": ", ".join(unknown), "known": ", ".join(PERMISSIONS)},
        )


class Role(models.Model):
    system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="roles", db_index=False)  # role_unique_*
    name = models.CharField(max_length=100)
    permissions = models.JSONField(default=list, blank=True, validators=[validate_permission_names])
    is_active = models.BooleanField(default=True)
    # Bumped on every change; consumers keep the newest version they have seen.
    version = models.BigIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["system", "name"], name="role_unique_name_per_system")]
        ordering = ["system__code", "name"]

    def __str__(self) -> str:
        return f"{self.system.code}:{self.name}"


class UserSystemRole(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="system_roles", db_index=False)  # user_role_unique
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="assignments")
    assigned_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "role"], name="user_role_unique")]
        ordering = ["assigned_at", "id"]

    def __str__(self) -> str:
        return f"{self.user} → {self.role}"


class AuditEvent(models.Model):
    """A sensitive operation of the auth service: who did it (``actor``: None for a login attempt or a trusted
    caller), to whom or what (``target``), when, and from which client address (as the login throttle sees it)."""

    class EventType(models.TextChoices):
        USER_CREATED = "user.created"
        USER_CHANGED = "user.changed"
        USER_DEACTIVATED = "user.deactivated"
        USER_REACTIVATED = "user.reactivated"
        PASSWORD_CHANGED = "password.changed"
        ROLE_GRANTED = "role.granted"
        ROLE_REVOKED = "role.revoked"
        ROLE_CREATED = "role.created"
        ROLE_CHANGED = "role.changed"
        LOGIN_FAILED = "login.failed"
        LOGIN_LOCKED_OUT = "login.locked_out"

    occurred_at = models.DateTimeField(auto_now_add=True)
    event_type = models.CharField(max_length=32, choices=EventType.choices)
    # Plain ids and names, no foreign keys: the record outlives renames and is written for unknown usernames too.
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_username = models.CharField(max_length=150, blank=True)
    target_user_id = models.BigIntegerField(null=True, blank=True)
    target_username = models.CharField(max_length=150, blank=True)
    role_id = models.BigIntegerField(null=True, blank=True)
    role_name = models.CharField(max_length=100, blank=True)
    source_address = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["-occurred_at", "-id"], name="auth_audit_newest"),
            models.Index(fields=["event_type", "-occurred_at"], name="auth_audit_type"),
            models.Index(fields=["actor_id", "-occurred_at"], name="auth_audit_actor"),
            models.Index(fields=["target_user_id", "-occurred_at"], name="auth_audit_target"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} by {self.actor_username or '-'} on {self.target_username or self.role_name}"
