from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tts_common.base import hdts
from tts_common.http.api import JSONParser
from tts_common.http.auth import JWTAuthentication
from tts_common.http.schema import TICKET_BODY

from . import selectors, services
from .authentication import CanSubmitTickets, HdtsSignatureAuthentication
from .models import HdtsTicket
from .serializers import TicketDetailSerializer, TicketSerializer


class TicketApiBase(APIView):
    authentication_classes = [JWTAuthentication, HdtsSignatureAuthentication]
    permission_classes = [CanSubmitTickets]
    parser_classes = [JSONParser]


@extend_schema_view(
    get=extend_schema(
        parameters=[
            OpenApiParameter("status", str, description="latest status reported by the workflow engine"),
            OpenApiParameter("priority", str, enum=hdts.PRIORITIES),
            OpenApiParameter("category", str),
            OpenApiParameter("sub_category", str),
        ]
    )
)
class TicketListCreateApi(TicketApiBase, ListAPIView):
    serializer_class = TicketSerializer
    filter_backends: list[type] = []  # the selector filters (and rejects bad values)

    def get_queryset(self) -> QuerySet[HdtsTicket]:
        return selectors.ticket_list(filters=self.request.query_params)

    @extend_schema(
        request=TICKET_BODY,
        responses={
            201: TicketSerializer,
            200: TicketSerializer,
            409: OpenApiResponse(description="A stored ticket with this ticket_id has other content."),
        },
        description="Receive an HDTS ticket (201 new; 200 a repeat of a stored ticket; 409 a stored id with other "
        "content). Authenticated by a JWT with an HDTS role (or admin), or by X-HDTS-Signature/X-HDTS-Signed-At.",
    )
    def post(self, request: Request) -> Response:
        errors = hdts.ticket_field_errors(request.data)
        if errors:
            raise ValidationError(errors)
        result = services.receive_ticket(request.data)
        return Response(
            TicketSerializer(result.ticket).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class TicketDetailApi(TicketApiBase):
    @extend_schema(responses=TicketDetailSerializer)
    def get(self, request: Request, ticket_id: str) -> Response:
        return Response(TicketDetailSerializer(selectors.ticket_get(ticket_id)).data)
