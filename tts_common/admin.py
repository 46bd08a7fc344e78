"""Django admin: the outbox, read-only (messages leave it by being published)."""
from __future__ import annotations

from typing import Any

from django.contrib import admin

from tts_common.models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # generic in django-stubs only
    list_display = ("id", "task", "queue", "ordering_key", "correlation_id", "created_at")
    list_filter = ("task",)
    readonly_fields = ("id", "position", "task", "queue", "body", "ordering_key", "correlation_id", "created_at")

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False
