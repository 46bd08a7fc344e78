from django.apps import AppConfig


class TicketServiceConfig(AppConfig):
    name = "ticket_service"
