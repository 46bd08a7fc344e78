"""REST API of the notification service (``/api/v2/notifications/``): thin views over selectors and services.

A caller only ever sees their own notifications and preferences (``request.user.id`` from the JWT); another user's
notification answers 404 exactly like a missing one. Deliveries and rejected messages are for admins.
"""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tts_common.contracts.messages import NOTIFICATION_TYPES
from tts_common.http.api import Pagination, paginated_response
from tts_common.http.auth import IsAdmin

from . import conf, selectors
from .models import EmailDelivery, EmailMode, validate_time_zone
from .serializers import EmailDeliverySerializer, NotificationSerializer, RejectedMessageSerializer
from .services import email_delivery, inapp, preferences


def validated_query(request: Request, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


UnreadCountSerializer = inline_serializer("UnreadCount", {"unread_count": serializers.IntegerField()})


# --- In-app notifications -------------------------------------------------------------------------------------
class NotificationListApi(APIView):
    pagination_class = Pagination

    class NotificationFilterSerializer(serializers.Serializer):
        # allow_null: an absent flag means "all", not False (DRF's default for form-style booleans).
        unread = serializers.BooleanField(required=False, allow_null=True, default=None)
        notification_type = serializers.ChoiceField(choices=NOTIFICATION_TYPES, required=False)

    @extend_schema(parameters=[NotificationFilterSerializer], responses=NotificationSerializer(many=True))
    def get(self, request: Request) -> Response:
        filters = validated_query(request, self.NotificationFilterSerializer)
        notifications = selectors.notification_list(user_id=request.user.id, **filters)
        return paginated_response(
            request=request, view=self, queryset=notifications, serializer_class=NotificationSerializer
        )


def _own_notification(request: Request, notification_id: int) -> Any:
    notification = selectors.notification_get(user_id=request.user.id, notification_id=notification_id)
    if notification is None:
        raise NotFound("Notification not found.")
    return notification


class NotificationDetailApi(APIView):
    @extend_schema(responses=NotificationSerializer)
    def get(self, request: Request, notification_id: int) -> Response:
        return Response(NotificationSerializer(_own_notification(request, notification_id)).data)


class NotificationMarkReadApi(APIView):
    @extend_schema(request=None, responses=NotificationSerializer)
    def post(self, request: Request, notification_id: int) -> Response:
        notification = inapp.mark_read(notification=_own_notification(request, notification_id))
        return Response(NotificationSerializer(notification).data)


class NotificationMarkAllReadApi(APIView):
    @extend_schema(
        request=None,
        responses=inline_serializer(
            "MarkAllRead", {"marked_read": serializers.IntegerField(), "unread_count": serializers.IntegerField()}
        ),
    )
    def post(self, request: Request) -> Response:
        marked = inapp.mark_all_read(user_id=request.user.id)
        return Response({"marked_read": marked, "unread_count": selectors.unread_count(user_id=request.user.id)})


class NotificationUnreadCountApi(APIView):
    @extend_schema(responses=UnreadCountSerializer)
    def get(self, request: Request) -> Response:
        return Response({"unread_count": selectors.unread_count(user_id=request.user.id)})


# --- Preferences ----------------------------------------------------------------------------------------------
class PreferencesApi(APIView):
    """The caller's email preferences. PUT changes the fields it gives and keeps the others."""

    class PreferencesInputSerializer(serializers.Serializer):
        email_types = serializers.ListField(
            child=serializers.ChoiceField(choices=NOTIFICATION_TYPES), allow_empty=True, required=False,
            help_text="Older on/off form: listed types keep their email mode (or become immediate), others off.",
        )  # fmt: skip
        email_modes = serializers.DictField(
            child=serializers.ChoiceField(choices=EmailMode.choices), required=False,
            help_text="Notification type → email mode, for the types to change.",
        )  # fmt: skip
        unread_delay_minutes = serializers.IntegerField(min_value=1, max_value=conf.MAX_UNREAD_DELAY_MINUTES, required=False)
        time_zone = serializers.CharField(
            max_length=64, required=False, validators=[validate_time_zone], help_text="IANA name, e.g. Europe/Berlin."
        )
        quiet_hours_start = serializers.TimeField(allow_null=True, required=False)
        quiet_hours_end = serializers.TimeField(allow_null=True, required=False)
        quiet_hours_exempt_types = serializers.ListField(
            child=serializers.ChoiceField(choices=NOTIFICATION_TYPES), allow_empty=True, required=False
        )
        digest_hour = serializers.IntegerField(min_value=0, max_value=23, required=False)

        def validate_email_modes(self, value: dict[str, str]) -> dict[str, str]:
            unknown = sorted(set(value) - set(NOTIFICATION_TYPES))
            if unknown:
                raise serializers.ValidationError(f"Unknown notification types: {', '.join(unknown)}.")
            return value

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if not attrs:
                raise serializers.ValidationError("Give at least one preference to change.")
            if "email_types" in attrs and "email_modes" in attrs:
                raise serializers.ValidationError({"email_modes": ["Give email_modes or email_types, not both."]})
            if ("quiet_hours_start" in attrs) != ("quiet_hours_end" in attrs):
                missing = "quiet_hours_end" if "quiet_hours_start" in attrs else "quiet_hours_start"
                raise serializers.ValidationError({missing: ["Quiet hours need a start and an end together."]})
            start, end = attrs.get("quiet_hours_start"), attrs.get("quiet_hours_end")
            if (start is None) != (end is None):
                raise serializers.ValidationError({"quiet_hours_end": ["Set both ends of the quiet hours, or neither."]})
            if start is not None and start == end:
                raise serializers.ValidationError({"quiet_hours_end": ["Quiet hours must not start and end together."]})
            return attrs

    class PreferencesSerializer(serializers.Serializer):
        email_types = serializers.ListField(child=serializers.CharField())
        email_modes = serializers.DictField(child=serializers.CharField(), source="all_email_modes")
        unread_delay_minutes = serializers.IntegerField()
        time_zone = serializers.CharField()
        quiet_hours_start = serializers.TimeField(allow_null=True, format="%H:%M")
        quiet_hours_end = serializers.TimeField(allow_null=True, format="%H:%M")
        quiet_hours_exempt_types = serializers.ListField(child=serializers.CharField())
        digest_hour = serializers.IntegerField()
        available_types = serializers.SerializerMethodField()
        available_modes = serializers.SerializerMethodField()

        def get_available_types(self, preference: Any) -> list[str]:
            return list(NOTIFICATION_TYPES)

        def get_available_modes(self, preference: Any) -> list[str]:
            return list(EmailMode.values)

    @extend_schema(responses=PreferencesSerializer)
    def get(self, request: Request) -> Response:
        return Response(self.PreferencesSerializer(selectors.preference_get(user_id=request.user.id)).data)

    @extend_schema(request=PreferencesInputSerializer, responses=PreferencesSerializer)
    def put(self, request: Request) -> Response:
        serializer = self.PreferencesInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        preference = preferences.update_preferences(user_id=request.user.id, **serializer.validated_data)
        return Response(self.PreferencesSerializer(preference).data)


# --- Email deliveries and rejected messages (admins) ----------------------------------------------------------
class DeliveryListApi(APIView):
    permission_classes = [IsAdmin]
    pagination_class = Pagination

    class DeliveryFilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=EmailDelivery.Status.choices, required=False)
        user_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False)

    @extend_schema(parameters=[DeliveryFilterSerializer], responses=EmailDeliverySerializer(many=True))
    def get(self, request: Request) -> Response:
        deliveries = selectors.delivery_list(**validated_query(request, self.DeliveryFilterSerializer))
        return paginated_response(
            request=request, view=self, queryset=deliveries, serializer_class=EmailDeliverySerializer
        )


class DeliveryRetryApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        request=None,
        responses={202: EmailDeliverySerializer, 409: OpenApiResponse(description="Only a failed delivery can be retried.")},
    )
    def post(self, request: Request, delivery_id: int) -> Response:
        delivery = selectors.delivery_get(delivery_id=delivery_id)
        if delivery is None:
            raise NotFound("Delivery not found.")
        delivery = email_delivery.retry_delivery(delivery=delivery)
        return Response(EmailDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class RejectedMessageListApi(APIView):
    permission_classes = [IsAdmin]
    pagination_class = Pagination

    @extend_schema(responses=RejectedMessageSerializer(many=True))
    def get(self, request: Request) -> Response:
        return paginated_response(
            request=request,
            view=self,
            queryset=selectors.rejected_message_list(),
            serializer_class=RejectedMessageSerializer,
        )
