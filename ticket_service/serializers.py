"""Output representations; input is the HDTS ticket itself, validated against the shared schema in the view."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from . import selectors
from .models import HdtsTicket, TicketStatusUpdate


class TicketStatusUpdateSerializer(serializers.ModelSerializer):
    class Meta:
        model = TicketStatusUpdate
        fields = ["status", "received_at"]


class TicketSerializer(serializers.ModelSerializer):
    published = serializers.SerializerMethodField()

    class Meta:
        model = HdtsTicket
        fields = [
            "ticket_id",
            "title",
            "priority",
            "category",
            "sub_category",
            "department",
            "status",
            "status_updated_at",
            "published",
            "published_at",
            "publish_attempts",
            "created_at",
            "updated_at",
        ]

    def get_published(self, ticket: HdtsTicket) -> bool:
        return ticket.published_at is not None


class TicketDetailSerializer(TicketSerializer):
    """One ticket with what HDTS sent, why its publishing failed (if it did) and every status reported back."""

    status_history = serializers.SerializerMethodField()

    class Meta(TicketSerializer.Meta):
        fields = [*TicketSerializer.Meta.fields, "last_publish_error", "payload", "status_history"]

    @extend_schema_field(TicketStatusUpdateSerializer(many=True))
    def get_status_history(self, ticket: HdtsTicket) -> list[dict[str, Any]]:
        return TicketStatusUpdateSerializer(selectors.ticket_status_history(ticket.ticket_id), many=True).data
