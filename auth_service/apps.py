from django.apps import AppConfig


class AuthServiceConfig(AppConfig):
    name = "auth_service"
