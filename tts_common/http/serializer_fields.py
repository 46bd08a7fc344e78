"""Serializer fields every service's API shares."""
from __future__ import annotations

import datetime

from django.conf import settings
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
