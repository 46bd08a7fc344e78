"""``GET /api/v1/ping/``: the cheapest authenticated answer, through everything every API request goes through
(middleware, JWT authentication and the account-state check, throttling, metrics, logging) and nothing else: the
ceiling bench/scale.py measures each endpoint against, and a client's check that its token still works."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class PingApi(APIView):
    @extend_schema(responses=inline_serializer("Pong", {"user_id": serializers.IntegerField()}))
    def get(self, request: Request) -> Response:
        return Response({"user_id": request.user.id})
