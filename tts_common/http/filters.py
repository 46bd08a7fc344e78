"""Query-string filter fields shared by the services' lists."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField


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
