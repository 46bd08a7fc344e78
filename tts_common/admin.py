"""Django admin: the parked messages, read-only (the resend job publishes and deletes them)."""
from __future__ import annotations

from typing import Any

from django.contrib import admin

from tts_common.models import UnsentMessage


@admin.register(UnsentMessage)
class UnsentMessageAdmin(admin.ModelAdmin):
    list_display = ("id", "task", "queue", "correlation_id", "created_at")
    list_filter = ("task",)
    readonly_fields = ("task", "queue", "args", "kwargs", "correlation_id", "error", "created_at")

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False
