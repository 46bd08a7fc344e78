"""Query-string filter fields shared by the services' lists."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.request import Request


class UtcIsoDateTimeField(IsoDateTimeField):  # type: ignore[misc]  # django-filter is untyped
    """An ISO 8601 date-time as an instant in UTC: PostgreSQL refuses offsets past ±15:59, which ISO 8601 allows."""

    def to_python(self, value: Any) -> datetime | None:
        moment = super().to_python(value)
        try:
            return moment.astimezone(UTC) if moment else None
        except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):  # type: ignore[misc]  # django-filter is untyped
    field_class = UtcIsoDateTimeField


class FilterBackend(DjangoFilterBackend):  # type: ignore[misc]  # django-filter is untyped
    """django-filter's backend, skipping the FilterSet when the query string names none of its filters: building
    and validating its form (a millisecond or two of a list page's CPU) would change nothing then."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        filterset_class = self.get_filterset_class(view, queryset)
        # By prefix: a filter's form field may take several parameters (``<name>_min``, ``<name>_after``, ...).
        names = tuple(filterset_class.base_filters) if filterset_class is not None else ()
        if not any(parameter.startswith(names) for parameter in request.query_params):
            return queryset
        filtered: QuerySet[Any] = super().filter_queryset(request, queryset, view)
        return filtered


class InChoicesFilter(django_filters.MultipleChoiceFilter):  # type: ignore[misc]  # django-filter is untyped
    """Several values of one column (``?status=a&status=b``) as one ``IN``: django-filter ORs an equality per value,
    each a lookup to build, resolve and compile (six open statuses were a twentieth of an agent's queue page).
    For the object's own columns only: no join, so never a duplicate row (``distinct`` is off)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, distinct=False, **kwargs)

    def filter(self, queryset: QuerySet[Any], value: list[str]) -> QuerySet[Any]:
        if not value:
            return queryset
        return queryset.filter(**{f"{self.field_name}__in": sorted(set(value))})


class StaticFormFilterSet(django_filters.FilterSet):  # type: ignore[misc]  # django-filter is untyped
    """A FilterSet whose form class is built once per class, not per request: django-filter builds it anew each time,
    every filter's form field and label with it (a millisecond of a filtered list's CPU). Only for FilterSets whose
    fields never depend on the request (no model choices read per request, no filters changed per instance)."""

    def get_form_class(self) -> type[Any]:
        form_class: type[Any] | None = type(self).__dict__.get("_static_form_class")
        if form_class is None:
            form_class = type(self)._static_form_class = super().get_form_class()
        return form_class
