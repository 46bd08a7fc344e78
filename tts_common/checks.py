"""System checks that keep a production deploy from running with development defaults."""
from typing import Any

from django.conf import settings
from django.core.checks import Warning, register


@register(deploy=True)
def embedded_profile_check(app_configs: Any, **kwargs: Any) -> list[Warning]:
    warnings: list[Warning] = []
    if settings.EMBEDDED_BROKER:
        warnings.append(Warning("CELERY_BROKER_URL is unset: the filesystem broker loses messages.", id="tts.W001"))
    if not settings.REDIS_URL:
        warnings.append(Warning("REDIS_URL is unset: the in-memory channel layer is single-process.", id="tts.W002"))
    return warnings
