"""Query-string filters of the user and role lists."""
from __future__ import annotations

from django.db.models import Q, QuerySet
from django_filters import rest_framework as filters

from tts_common.http.filters import InChoicesFilter, UtcDateTimeFilter

from .models import AuditEvent, Role, User


class StrictBooleanFilter(filters.TypedChoiceFilter):
    """``true`` or ``false``: django-filter's BooleanFilter silently ignores values it cannot read (``=maybe``)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(choices=[("true", "true"), ("false", "false")], coerce=lambda value: value == "true", **kwargs)


class UserFilter(filters.FilterSet):
    is_active = StrictBooleanFilter()
    role = filters.NumberFilter(field_name="system_roles__role_id", distinct=True, help_text="Holds this role id.")
    role_name = filters.CharFilter(
        field_name="system_roles__role__name", lookup_expr="iexact", distinct=True, help_text="Holds a role so named."
    )
    system = filters.CharFilter(
        field_name="system_roles__role__system__code",
        lookup_expr="iexact",
        distinct=True,
        help_text="Holds a role of this system (code).",
    )
    search = filters.CharFilter(method="filter_search", help_text="Part of the username or email.")

    class Meta:
        model = User
        fields: list[str] = []

    def filter_search(self, queryset: QuerySet[User], name: str, value: str) -> QuerySet[User]:
        return queryset.filter(Q(username__icontains=value) | Q(email__icontains=value))


class RoleFilter(filters.FilterSet):
    system = filters.CharFilter(field_name="system__code", lookup_expr="iexact", help_text="System code.")
    is_active = StrictBooleanFilter()
    search = filters.CharFilter(field_name="name", lookup_expr="icontains", help_text="Part of the role name.")

    class Meta:
        model = Role
        fields: list[str] = []


class AuditEventFilter(filters.FilterSet):
    actor = filters.CharFilter(field_name="actor_username", lookup_expr="iexact", help_text="The actor's username.")
    target = filters.CharFilter(
        field_name="target_username", lookup_expr="iexact", help_text="The target user's username (as typed, for logins)."
    )
    event_type = InChoicesFilter(choices=AuditEvent.EventType.choices)
    occurred_after = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["actor_id", "target_user_id"]
