from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class AuthServiceConfig(AppConfig):
    name = "auth_service"

    def ready(self) -> None:
        from . import receivers
        from .models import User

        post_save.connect(receivers.record_account_state, sender=User, dispatch_uid="auth_service.account_state")
        post_delete.connect(receivers.record_account_deleted, sender=User, dispatch_uid="auth_service.account_deleted")
