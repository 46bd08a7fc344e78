from django.apps import AppConfig


class MessagingServiceConfig(AppConfig):
    name = "messaging_service"
