"""Output shapes shared by the REST API and the WebSocket push (one representation of a notification)."""
from rest_framework import serializers

from .models import EmailDelivery, InAppNotification, RejectedMessage


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = InAppNotification
        fields = [
            "id", "user_id", "notification_type", "subject", "message", "related_task_id", "related_ticket_id",
            "metadata", "is_read", "read_at", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class EmailDeliverySerializer(serializers.ModelSerializer):
    notification_id = serializers.IntegerField(read_only=True)
    digest_id = serializers.IntegerField(read_only=True, allow_null=True)
    notification_type = serializers.CharField(source="notification.notification_type", read_only=True)
    subject = serializers.CharField(source="notification.subject", read_only=True)
    # Not an "email" in the schema: blank until the user's address is looked up at the first attempt.
    to_email = serializers.CharField(read_only=True, help_text="The recipient's address; blank until first attempted.")

    class Meta:
        model = EmailDelivery
        fields = [
            "id", "notification_id", "notification_type", "subject", "user_id", "mode", "not_before", "digest_id",
            "to_email", "status", "attempts", "last_error", "created_at", "updated_at", "sent_at",
        ]  # fmt: skip
        read_only_fields = fields


class RejectedMessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = RejectedMessage
        fields = ["id", "task_name", "kwargs", "reason", "retries", "created_at"]
        read_only_fields = fields
