"""DRF throttles (rates in settings). Its own module: DRF imports it while importing its views, so it may not import
them (nor tts_common.http.api) itself."""
from __future__ import annotations

from typing import Any

from rest_framework import throttling
from rest_framework.request import Request


class UserRateThrottle(throttling.UserRateThrottle):
    """DRF's per-user rate, also for a system principal without a user id (signed HDTS requests): keyed by name."""

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        user = request.user
        if not (user and user.is_authenticated):
            return None
        ident = getattr(user, "id", None) or f"system:{user.username}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
