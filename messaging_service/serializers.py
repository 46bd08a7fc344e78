"""The one representation of a comment, shared by the REST API and the WebSocket feed."""
from __future__ import annotations

from rest_framework import serializers

from .models import Comment


class CommentOutputSerializer(serializers.ModelSerializer):
    # Raw text as typed (JSON carries it safely); a deleted comment's text is withheld. HTML renderers must escape it.
    text = serializers.SerializerMethodField()

    class Meta:
        model = Comment
        fields = ["id", "ticket_id", "author_id", "author_username", "text", "created_at", "edited_at", "is_deleted"]
        read_only_fields = fields

    def get_text(self, comment: Comment) -> str | None:
        return None if comment.is_deleted else comment.text
