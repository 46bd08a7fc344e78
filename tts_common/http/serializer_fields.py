"""Serializer fields every service's API shares."""
from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.utils import timezone
from rest_framework import serializers


class DateTimeField(serializers.DateTimeField):
    """DRF's, rendering in the default time zone (``TIME_ZONE``) without asking for the current one per value.

    DRF asks Django for the current time zone for every datetime it renders. Django keeps it in an asgiref ``Local``,
    whose every read takes a lock shared by the process's request threads and, with no zone activated, raises and
    catches an ``AttributeError``: a sixth of a web process's CPU on a 50-task list page. No code of TTS activates a
    time zone (the API answers in ``TIME_ZONE``, UTC), so the current zone is always the default one; a view that
    activates one would have to declare its fields with ``default_timezone``."""

    def default_timezone(self) -> datetime.tzinfo | None:
        return timezone.get_default_timezone() if settings.USE_TZ else None


def use_in_model_serializers() -> None:
    """Make every model serializer render a model's datetimes with :class:`DateTimeField` (``serializer_field_mapping``
    is DRF's hook for that); fields a serializer declares itself keep DRF's."""
    serializers.ModelSerializer.serializer_field_mapping[models.DateTimeField] = DateTimeField


# Fields whose rendering reads nothing but the value (not the request, not the serializer): they can be built once.
_PLAIN_FIELDS = (
    serializers.BooleanField,
    serializers.CharField,
    serializers.ChoiceField,
    serializers.DateField,
    serializers.DateTimeField,
    serializers.DecimalField,
    serializers.FloatField,
    serializers.IntegerField,
    serializers.ReadOnlyField,
    serializers.UUIDField,
)
_Reader = tuple[str, tuple[str, ...], serializers.Field[Any, Any, Any, Any]]


class DirectReads:
    """A serializer mixin rendering rows as DRF does, each value by the declared field's own ``to_representation``,
    with fewer steps: the fields are built once per class, not once per serializer (a ModelSerializer builds them
    from the model on every request), and each value is read by plain ``getattr`` along its source. On a 50-task
    page DRF's per-field machinery (``get_attribute``, ``_readable_fields``) was most of the serializer's CPU.

    Only for serializers whose every readable field is one of the plain scalar fields, and whose fields reading
    through a relation default to None (what DRF gives when the relation is missing); any other (nested, method,
    related, file) and the serializer renders through DRF's path unchanged."""

    _direct_readers: list[_Reader] | None

    def to_representation(self, instance: Any) -> dict[str, Any]:
        readers = type(self).__dict__.get("_direct_readers", False)
        if readers is False:
            readers = type(self)._direct_readers = _direct_readers(type(self))
        if readers is None or isinstance(instance, Mapping):
            represented: dict[str, Any] = super().to_representation(instance)  # type: ignore[misc]
            return represented
        row: dict[str, Any] = {}
        for name, source, field in readers:
            value = instance
            try:
                for attr in source:
                    value = getattr(value, attr)
                    if value is None:  # a missing relation, or a null value
                        break
            except ObjectDoesNotExist:
                value = None
            if callable(value):  # DRF calls it; rare enough to leave to DRF
                value = field.get_attribute(instance)
            row[name] = None if value is None else field.to_representation(value)
        return row


def _direct_readers(serializer_class: type[Any]) -> list[_Reader] | None:
    """The readable fields of a serializer of ``serializer_class`` as (name, source path, field), or None if one is
    not plain."""
    fields = [field for field in serializer_class().fields.values() if not field.write_only]
    plain = all(
        isinstance(field, _PLAIN_FIELDS) and field.source_attrs and (len(field.source_attrs) == 1 or field.default is None)
        for field in fields
    )
    return [(field.field_name, tuple(field.source_attrs), field) for field in fields] if plain else None
