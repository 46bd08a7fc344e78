"""The shared package's one scheduled job (``CELERY_BEAT_SCHEDULE``): it only calls the service."""
from __future__ import annotations

from celery import shared_task

from tts_common import contracts
from tts_common.messaging import outbox


@shared_task(name=contracts.OUTBOX_RELAY.task)
def outbox_relay() -> None:
    """Publishes the outbox rows a dead process (or a refusing broker) left; what still fails waits for the next tick."""
    outbox.relay()
