"""Celery consumers of the notification queues (DESIGN §2) and the internal email task.

Each consumer only decodes messages and calls a service; reliability (late acks, retries, give-up) lives in
:mod:`tts_common.messaging.worker`. In-app notifications are consumed in batches, so storage is set-based.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery import current_app, shared_task

from tts_common import contracts
from tts_common.messaging.worker import BatchConsumer

from . import conf, decoders
from .services import email_delivery, inapp
from .services.inapp import NotificationDraft


class NotificationConsumer(BatchConsumer[NotificationDraft]):
    abstract = True
    # DESIGN §2: notifications are retried 5 times, 2^n s with jitter. Nothing is dead-lettered: a message that
    # gives up is recorded as a RejectedMessage for admins.
    max_retries = 5
    retry_jitter = True

    def process(self, items: Sequence[NotificationDraft]) -> None:
        inapp.create_notifications(drafts=items)

    def on_give_up(self, kwargs: dict[str, Any], reason: str, retries: int) -> None:
        inapp.record_rejected_message(task_name=self.name, kwargs=kwargs, reason=reason, retries=retries)


class InAppNotificationConsumer(NotificationConsumer):
    name = contracts.INAPP_NOTIFICATION.task

    def decode(self, kwargs: dict[str, Any]) -> NotificationDraft:
        return decoders.inapp_draft(kwargs)


class AssignmentNotificationConsumer(NotificationConsumer):
    name = contracts.ASSIGNMENT_NOTIFICATION.task

    def decode(self, kwargs: dict[str, Any]) -> NotificationDraft:
        return decoders.assignment_draft(kwargs)


create_inapp = current_app.register_task(InAppNotificationConsumer())
send_assignment_notification = current_app.register_task(AssignmentNotificationConsumer())


@shared_task(
    bind=True,
    name=contracts.NOTIFICATION_EMAIL.task,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,  # the attempt count lives on each EmailDelivery row
    soft_time_limit=conf.EMAIL_TASK_SOFT_TIME_LIMIT,
    time_limit=conf.EMAIL_TASK_SOFT_TIME_LIMIT + 30,
)
def send_email(self: Any, delivery_ids: list[int]) -> None:
    retry = email_delivery.deliver_emails(
        delivery_ids=delivery_ids, reclaim=bool((self.request.delivery_info or {}).get("redelivered"))
    )
    if retry:
        raise self.retry(kwargs={"delivery_ids": retry.delivery_ids}, countdown=retry.countdown)


@shared_task(name=contracts.EMAIL_SWEEP.task)
def requeue_stalled_emails() -> None:
    """Scheduled by celery beat; a missed tick needs no retry, the next one does the same."""
    email_delivery.requeue_stalled_deliveries()


@shared_task(name=contracts.EMAIL_DUE.task)
def release_due_emails() -> None:
    """Scheduled by celery beat: queues the scheduled emails now due."""
    email_delivery.release_due_deliveries()


@shared_task(
    name=contracts.EMAIL_DIGESTS.task,
    soft_time_limit=conf.EMAIL_TASK_SOFT_TIME_LIMIT,
    time_limit=conf.EMAIL_TASK_SOFT_TIME_LIMIT + 30,
)
def send_digests() -> None:
    """Scheduled by celery beat: sends the digests now due (a digest left pending is taken by the next tick)."""
    email_delivery.send_due_digests()
