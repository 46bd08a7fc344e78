"""Users, systems, roles per system and user-role assignments: the auth service's own tables."""
from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    # Bumped (under the row lock) on every change to the user's roles or active flag; the sync snapshot carries it.
    sync_version = models.BigIntegerField(default=0)


class System(models.Model):
    """A system that roles belong to: TTS, HDTS, AMS, BMS."""

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.code


class Role(models.Model):
    system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="roles")
    name = models.CharField(max_length=100)
    permissions = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    # Bumped on every change; consumers keep the newest version they have seen.
    version = models.BigIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)

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
