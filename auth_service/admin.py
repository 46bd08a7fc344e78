"""Django admin for users, roles and systems.

Every write goes through :mod:`auth_service.services`, so admin changes publish the same sync messages as the API.
Nothing is ever deleted here (tasks, audit entries and replicas in other services refer to these rows): the delete
action is replaced by *deactivate*.
"""
from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest

from . import services, tokens
from .models import Role, System, User, UserSystemRole


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin's login, throttled exactly like ``/token/`` (one shared counter set: guesses here count there)."""

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            try:
                self.user_cache = tokens.authenticate_throttled(
                    username=username, password=password, client_ip=tokens.client_address(self.request)
                )
            except tokens.LoginThrottled as exc:
                raise ValidationError(str(exc), code="throttled") from exc
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


admin.site.login_form = ThrottledAdminAuthenticationForm


def _caller(request: HttpRequest) -> dict[str, Any]:
    """Who changes what through the admin, for the services' checks and the audit."""
    return {"actor": request.user, "source_address": tokens.client_address(request)}


def _adopt(obj: Model, saved: Model) -> None:
    """Make the admin's unsaved ``obj`` the row a service created, for the admin's redirect, log entry and inlines."""
    obj.pk = saved.pk
    obj.refresh_from_db()


def _changes(form: ModelForm, allowed: frozenset[str]) -> dict[str, Any]:
    return {field: form.cleaned_data[field] for field in form.changed_data if field in allowed}


class UserRolesFormSet(BaseInlineFormSet):
    def chosen_roles(self) -> list[Role]:
        return [
            form.cleaned_data["role"]
            for form in self.forms
            if form.cleaned_data.get("role") and not form.cleaned_data.get("DELETE")
        ]

    def clean(self) -> None:
        super().clean()
        if not any(self.errors):
            current = set(self.instance.system_roles.values_list("role_id", flat=True)) if self.instance.pk else set()
            services.check_assignable(current_role_ids=current, roles=self.chosen_roles())


class UserRolesInline(admin.TabularInline):
    model = UserSystemRole
    formset = UserRolesFormSet
    fields = ("role", "assigned_at")
    readonly_fields = ("assigned_at",)
    extra = 0
    verbose_name = "role"
    verbose_name_plural = "roles"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    inlines = [UserRolesInline]
    list_display = ("username", "email", "first_name", "last_name", "is_active", "is_staff")
    readonly_fields = ("last_login", "date_joined", "sync_version")
    actions = ["deactivate"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        # Only a superuser changes a staff or superuser account (its password included): the API's rule too.
        if obj is not None and (obj.is_staff or obj.is_superuser) and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> tuple[str, ...]:
        # Django's own UserAdmin lets any staff user with the change permission make anyone (themselves included)
        # superuser; only a superuser grants these.
        fixed = tuple(super().get_readonly_fields(request, obj))
        if request.user.is_superuser:
            return fixed
        return (*fixed, "is_staff", "is_superuser", "groups", "user_permissions")

    def save_model(self, request: HttpRequest, obj: User, form: ModelForm, change: bool) -> None:
        if change:
            services.user_update(user=obj, data=_changes(form, services.USER_UPDATABLE_FIELDS), **_caller(request))
            return
        # The creation form has already hashed the password (or made it unusable) on obj.
        password = form.cleaned_data.get("password1") if obj.has_usable_password() else None
        user = services.user_create(
            username=obj.username,
            password=password,
            email=obj.email,
            first_name=obj.first_name,
            last_name=obj.last_name,
            is_active=obj.is_active,
            is_staff=obj.is_staff,
            is_superuser=obj.is_superuser,
            **_caller(request),
        )
        _adopt(obj, user)

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: list[Any], change: bool) -> None:
        form.save_m2m()  # groups and permissions
        for formset in formsets:
            # commit=False records what changed for the admin's history without writing; the service writes.
            formset.save(commit=False)
            if isinstance(formset, UserRolesFormSet):
                services.user_roles_replace(user=form.instance, roles=formset.chosen_roles(), **_caller(request))

    @admin.action(description="Deactivate selected users")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            services.user_deactivate(user=user, **_caller(request))
        self.message_user(request, f"Deactivated {len(queryset)} user(s).", messages.SUCCESS)


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = ("name", "system", "is_active", "version", "updated_at")
    list_filter = ("system", "is_active")
    search_fields = ("name",)
    actions = ["deactivate"]

    def get_readonly_fields(self, request: HttpRequest, obj: Role | None = None) -> tuple[str, ...]:
        # Consumers key replicas by role id; moving a role to another system would silently change its meaning.
        fixed = ("version", "created_at", "updated_at")
        return ("system", *fixed) if obj else fixed

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Role, form: ModelForm, change: bool) -> None:
        if change:
            services.role_update(role=obj, data=_changes(form, services.ROLE_UPDATABLE_FIELDS), **_caller(request))
            return
        role = services.role_create(
            system=obj.system, name=obj.name, permissions=obj.permissions, is_active=obj.is_active, **_caller(request)
        )
        _adopt(obj, role)

    @admin.action(description="Deactivate selected roles")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Role]) -> None:
        for role in queryset:
            services.role_deactivate(role=role, **_caller(request))
        self.message_user(request, f"Deactivated {len(queryset)} role(s).", messages.SUCCESS)


@admin.register(System)
class SystemAdmin(admin.ModelAdmin):
    list_display = ("code", "name")

    def get_readonly_fields(self, request: HttpRequest, obj: System | None = None) -> tuple[str, ...]:
        # The code is what every sync message and token names the system by.
        return ("code",) if obj else ()
