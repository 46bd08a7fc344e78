"""Django admin for the engine's tables: read-only views for support staff. Every change goes through the API so
that its rules (draft-only edits, deploy validation, row locks, audit, notifications) always apply."""
from __future__ import annotations

from typing import Any

from django.contrib import admin

from workflow_api.models import (
    Assignment,
    AuditEvent,
    BusinessCalendar,
    RoleReplica,
    StepInstance,
    Task,
    TaskPause,
    UserReplica,
    UserRole,
    Workflow,
    WorkflowStep,
    WorkflowTransition,
)


class ReadOnlyMixin:
    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(ReadOnlyMixin, admin.TabularInline):
    extra = 0
    show_change_link = False


class StepInline(ReadOnlyInline):
    model = WorkflowStep
    fields = ["order", "name", "role", "sla_weight"]


class TransitionInline(ReadOnlyInline):
    model = WorkflowTransition
    fk_name = "workflow"
    fields = ["from_step", "action", "to_step"]


@admin.register(Workflow)
class WorkflowAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["name", "version", "status", "category", "sub_category", "department", "deployed_at"]
    list_filter = ["status", "category"]
    search_fields = ["name", "category", "sub_category"]
    list_select_related = ["coordinator_role"]
    inlines = [StepInline, TransitionInline]


class StepInstanceInline(ReadOnlyInline):
    model = StepInstance
    fields = ["step", "status", "started_at", "due_at", "ended_at", "acted_by_id", "notes"]


class AssignmentInline(ReadOnlyInline):
    model = Assignment
    fields = ["user", "role", "reason", "assigned_by_id", "assigned_at", "ended_at"]


class TaskPauseInline(ReadOnlyInline):
    model = TaskPause
    fields = ["reason", "notes", "started_at", "ended_at", "started_by_id", "ended_by_id"]


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["name", "time_zone", "updated_at"]
    search_fields = ["name"]


@admin.register(Task)
class TaskAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["external_ticket_id", "title", "status", "priority", "current_step", "assigned_user", "sla_deadline"]
    list_filter = ["status", "priority"]
    search_fields = ["external_ticket_id", "title"]
    list_select_related = ["current_step", "assigned_user"]
    inlines = [StepInstanceInline, AssignmentInline, TaskPauseInline]


class UserRoleInline(ReadOnlyInline):
    model = UserRole
    fields = ["user", "role", "assigned_at"]


@admin.register(RoleReplica)
class RoleReplicaAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["role_id", "system", "name", "is_active", "version"]
    list_filter = ["system", "is_active"]
    search_fields = ["name"]
    inlines = [UserRoleInline]


@admin.register(UserReplica)
class UserReplicaAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["user_id", "username", "email", "is_active", "version"]
    search_fields = ["username", "email"]
    inlines = [UserRoleInline]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["occurred_at", "action", "entity_type", "entity_id", "ticket_id", "actor_username"]
    list_filter = ["action", "entity_type"]
    search_fields = ["entity_id", "ticket_id", "actor_username"]
    date_hierarchy = "occurred_at"
