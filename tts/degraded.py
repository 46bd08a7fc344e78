"""``GET /api/status/``: the degraded modes the system runs in now, for the web UI's banner (any signed-in user).

Today one: the auth service not answering user lookups, while the services serve cached users for the first
5 minutes of the outage (tts_common.http.auth_client).
"""
from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tts_common.http import auth_client


class SystemStatusSerializer(serializers.Serializer):
    class AuthServiceSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=["ok", "unavailable"])
        unavailable_since = serializers.DateTimeField(allow_null=True, help_text="When lookups began to fail.")
        cached_users_until = serializers.DateTimeField(
            allow_null=True, help_text="Until when the services go on with cached user data (5 minutes into the outage)."
        )

    auth_service = AuthServiceSerializer()
    recheck_seconds = serializers.FloatField(help_text="Ask again after this long.")


def _moment(unix_time: float | None) -> datetime | None:
    return None if unix_time is None else datetime.fromtimestamp(unix_time, tz=UTC)


class SystemStatusApi(APIView):
    @extend_schema(responses=SystemStatusSerializer, summary="Degraded modes in effect (the web UI's banner)")
    def get(self, request: Request) -> Response:
        status = auth_client.auth_service_status(service="web")
        body = {
            "auth_service": {
                "status": "ok" if status.available else "unavailable",
                "unavailable_since": _moment(status.unavailable_since),
                "cached_users_until": _moment(status.cached_users_until),
            },
            "recheck_seconds": settings.DEGRADED_STATUS_INTERVAL_SECONDS,
        }
        return Response(SystemStatusSerializer(body).data)
