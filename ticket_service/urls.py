from django.urls import path, register_converter
from django.urls.converters import StringConverter

from .views import TicketDetailApi, TicketListCreateApi


class TicketIdConverter(StringConverter):
    """A path segment without NUL characters: the database cannot hold one, so no ticket id has it (404, not 500)."""

    regex = "[^/\x00]+"


register_converter(TicketIdConverter, "ticket_id")

urlpatterns = [
    path("api/tickets/", TicketListCreateApi.as_view(), name="hdts-ticket-list"),
    path("api/tickets/<ticket_id:ticket_id>/", TicketDetailApi.as_view(), name="hdts-ticket-detail"),
]
