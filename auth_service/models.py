"""Users, systems, roles per system and user-role assignments: the auth service's own tables."""
from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q


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
    # The JSON column would take anything; consumers of role_data expect a list of names.
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ValidationError("Permissions must be a list of strings.", code="invalid")


class Role(models.Model):
    system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="roles")
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
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="system_roles")
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="assignments")
    assigned_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "role"], name="user_role_unique")]
        ordering = ["assigned_at", "id"]

    def __str__(self) -> str:
        return f"{self.user} → {self.role}"
