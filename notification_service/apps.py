from django.apps import AppConfig


class NotificationServiceConfig(AppConfig):
    name = "notification_service"

    def ready(self) -> None:
        from notification_service import metrics

        metrics.register()
