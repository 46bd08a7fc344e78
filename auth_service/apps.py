from django.apps import AppConfig


class AuthServiceConfig(AppConfig):
    name = "auth_service"

    def ready(self) -> None:
        # Registers the Bearer JWT scheme with drf-spectacular (extensions register on import). It belongs in
        # tts_common's own ready(); it is here until that shared file takes it.
        from tts_common import schema  # noqa: F401
