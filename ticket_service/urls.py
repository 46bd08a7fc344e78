from django.urls import path

from .views import TicketDetailApi, TicketListCreateApi

urlpatterns = [
    path("api/tickets/", TicketListCreateApi.as_view(), name="hdts-ticket-list"),
    path("api/tickets/<str:ticket_id>/", TicketDetailApi.as_view(), name="hdts-ticket-detail"),
]
