"""REST API of comments (DESIGN §5): thin views over :mod:`.selectors`, :mod:`.services` and :mod:`.access`."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tts_common.http.api import Pagination, paginated_response

from .access import TicketNotVisible, ticket_access
from .models import Comment
from .selectors import TicketParticipants, comment_get, comment_list
from .serializers import CommentOutputSerializer
from .services import comment_create, comment_delete, comment_edit

TEXT_MAX_LENGTH = 10_000
TICKET_ID_MAX_LENGTH = Comment._meta.get_field("ticket_id").max_length


class StrictCharField(serializers.CharField):
    """A string and only a string: DRF's CharField would turn ``123`` or ``1.5`` into text."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class CommentTextField(StrictCharField):
    """1..10,000 characters, stored exactly as typed (no trimming), but not only whitespace."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=TEXT_MAX_LENGTH, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        text = super().to_internal_value(data)
        if not text.strip():
            self.fail("blank")
        return text


def ticket_id_field() -> StrictCharField:
    return StrictCharField(max_length=TICKET_ID_MAX_LENGTH)


# Every operation: a ticket (or comment) the caller may not see answers as one that does not exist.
NOT_VISIBLE = OpenApiResponse(description="No such ticket or comment, or not one the caller may see (not told apart).")


def require_ticket_access(request: Request, ticket_id: str) -> TicketParticipants:
    """The ticket, if the caller may see it; else the 404 of a ticket or comment that does not exist, word for
    word, so that a refusal does not reveal that it does."""
    try:
        return ticket_access(user=request.user, ticket_id=ticket_id)
    except TicketNotVisible:
        raise exceptions.NotFound() from None


class CommentListCreateApi(APIView):
    pagination_class = Pagination

    class FilterSerializer(serializers.Serializer):
        ticket_id = ticket_id_field()
        after_id = serializers.IntegerField(min_value=0, required=False)

    class InputSerializer(serializers.Serializer):
        ticket_id = ticket_id_field()
        text = CommentTextField()

    @extend_schema(
        parameters=[FilterSerializer],
        responses={200: CommentOutputSerializer(many=True), 404: NOT_VISIBLE},
        summary="A ticket's comments, oldest first; `after_id` returns only newer ones (catch-up).",
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        require_ticket_access(request, filters.validated_data["ticket_id"])
        return paginated_response(
            request=request,
            view=self,
            queryset=comment_list(**filters.validated_data),
            serializer_class=CommentOutputSerializer,
        )

    @extend_schema(request=InputSerializer, responses={201: CommentOutputSerializer, 404: NOT_VISIBLE})
    def post(self, request: Request) -> Response:
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        ticket = require_ticket_access(request, payload.validated_data["ticket_id"])
        comment = comment_create(ticket=ticket, text=payload.validated_data["text"], author=request.user)
        return Response(CommentOutputSerializer(comment).data, status=status.HTTP_201_CREATED)


class CommentDetailApi(APIView):
    class InputSerializer(serializers.Serializer):
        text = CommentTextField()

    def _get_visible(self, request: Request, comment_id: int) -> tuple[Comment, TicketParticipants]:
        comment = comment_get(comment_id=comment_id)
        if comment is None:
            raise exceptions.NotFound()
        return comment, require_ticket_access(request, comment.ticket_id)

    @extend_schema(responses={200: CommentOutputSerializer, 404: NOT_VISIBLE})
    def get(self, request: Request, comment_id: int) -> Response:
        comment, _ = self._get_visible(request, comment_id)
        return Response(CommentOutputSerializer(comment).data)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: CommentOutputSerializer,
            404: NOT_VISIBLE,
            409: OpenApiResponse(description="The comment has been deleted."),
        },
        summary="Edit one's own comment.",
    )
    def patch(self, request: Request, comment_id: int) -> Response:
        comment, ticket = self._get_visible(request, comment_id)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        comment = comment_edit(comment=comment, ticket=ticket, user=request.user, text=payload.validated_data["text"])
        return Response(CommentOutputSerializer(comment).data)

    @extend_schema(responses={204: None, 404: NOT_VISIBLE}, summary="Soft-delete one's own comment (admins: anyone's).")
    def delete(self, request: Request, comment_id: int) -> Response:
        comment, _ = self._get_visible(request, comment_id)
        comment_delete(comment=comment, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
