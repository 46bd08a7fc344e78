"""The shared package's one scheduled job (``CELERY_BEAT_SCHEDULE``): it only calls the service."""
from __future__ import annotations

from celery import shared_task

from . import contracts, unsent


@shared_task(name=contracts.UNSENT_RESEND.task)
def unsent_resend() -> None:
    """Publishes parked messages; while the broker still refuses them the job fails and the next tick tries again."""
    unsent.resend_unsent()
