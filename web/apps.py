from django.apps import AppConfig


class WebConfig(AppConfig):
    """The agent and admin web UI: server-rendered HTML shells whose data comes from the JWT-protected APIs."""

    name = "web"
    verbose_name = "Web UI"
