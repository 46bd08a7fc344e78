"""REST API of comments (DESIGN §5): thin views over :mod:`.selectors`, :mod:`.services` and :mod:`.access`."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tts_common.api import Pagination, paginated_response

from .access import AccessCheckUnavailable, TicketAccess, ticket_access
from .models import Comment
from .selectors import comment_get, comment_list
from .serializers import CommentOutputSerializer
from .services import comment_create, comment_delete, comment_edit

TEXT_MAX_LENGTH = 10_000
TICKET_ID_MAX_LENGTH = Comment._meta.get_field("ticket_id").max_length


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Ticket access cannot be checked right now; try again shortly."
    default_code = "service_unavailable"


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


def require_ticket_access(request: Request, ticket_id: str) -> TicketAccess:
    try:
        access = ticket_access(user=request.user, token=str(request.auth), ticket_id=ticket_id)
    except AccessCheckUnavailable:
        raise ServiceUnavailable() from None
    if not access.allowed:
        raise exceptions.PermissionDenied("You may not see this ticket's comments.")
    return access


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
        responses=CommentOutputSerializer(many=True),
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

    @extend_schema(request=InputSerializer, responses={201: CommentOutputSerializer})
    def post(self, request: Request) -> Response:
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        access = require_ticket_access(request, payload.validated_data["ticket_id"])
        comment = comment_create(**payload.validated_data, author=request.user, participants=access.participants)
        return Response(CommentOutputSerializer(comment).data, status=status.HTTP_201_CREATED)


class CommentDetailApi(APIView):
    class InputSerializer(serializers.Serializer):
        text = CommentTextField()

    def _get_visible(self, request: Request, comment_id: int) -> tuple[Comment, TicketAccess]:
        comment = comment_get(comment_id=comment_id)
        return comment, require_ticket_access(request, comment.ticket_id)

    @extend_schema(responses=CommentOutputSerializer)
    def get(self, request: Request, comment_id: int) -> Response:
        comment, _ = self._get_visible(request, comment_id)
        return Response(CommentOutputSerializer(comment).data)

    @extend_schema(
        request=InputSerializer,
        responses={200: CommentOutputSerializer, 409: OpenApiResponse(description="The comment has been deleted.")},
        summary="Edit one's own comment.",
    )
    def patch(self, request: Request, comment_id: int) -> Response:
        comment, access = self._get_visible(request, comment_id)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        comment = comment_edit(
            comment=comment, user=request.user, text=payload.validated_data["text"], participants=access.participants
        )
        return Response(CommentOutputSerializer(comment).data)

    @extend_schema(responses={204: None}, summary="Soft-delete one's own comment (admins: anyone's).")
    def delete(self, request: Request, comment_id: int) -> Response:
        comment, _ = self._get_visible(request, comment_id)
        comment_delete(comment=comment, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
