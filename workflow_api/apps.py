from django.apps import AppConfig


class WorkflowApiConfig(AppConfig):
    name = "workflow_api"

    def ready(self) -> None:
        # Registers the scheduled jobs with Celery (its autodiscovery imports only `tasks` modules).
        from workflow_api import metrics, scheduled  # noqa: F401

        metrics.register()
