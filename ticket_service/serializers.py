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
            "created_at",
            "updated_at",
        ]


class TicketDetailSerializer(TicketSerializer):
    """One ticket with what HDTS sent and every status reported back."""

    status_history = serializers.SerializerMethodField()

    class Meta(TicketSerializer.Meta):
        fields = [*TicketSerializer.Meta.fields, "payload", "status_history"]

    @extend_schema_field(TicketStatusUpdateSerializer(many=True))
    def get_status_history(self, ticket: HdtsTicket) -> list[dict[str, Any]]:
        return TicketStatusUpdateSerializer(selectors.ticket_status_history(ticket.ticket_id), many=True).data
