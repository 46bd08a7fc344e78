from django.apps import AppConfig


class WorkflowApiConfig(AppConfig):
    name = "workflow_api"
