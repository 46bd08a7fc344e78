from django.apps import AppConfig


class NotificationServiceConfig(AppConfig):
    name = "notification_service"
