"""Queue and task names of DESIGN §2: the single place these facts are written down.

Every queue is declared exactly as a stock Celery producer declares it when it publishes with
``send_task(..., queue=NAME)`` (durable, a direct exchange of the same name, routing key = name, no
arguments), so that an outside producer and our workers can each declare first without a conflict.
"""
from __future__ import annotations

from dataclasses import dataclass

from kombu import Exchange, Queue


@dataclass(frozen=True)
class Route:
    """A Celery task name and the queue it is published to."""

    task: str
    queue: str


RECEIVE_TICKET = Route("tickets.tasks.receive_ticket", "TICKET_TASKS_PRODUCTION")
ROLE_SEND = Route("workflow.role.send", "role_send-default")
ROLE_SYNC = Route("workflow.role.sync", "tts.role.sync")
ASSIGNMENT_NOTIFICATION = Route("task.send_assignment_notification", "notification-queue-default")
INAPP_NOTIFICATION = Route("notifications.create_inapp", "inapp-notification-queue")
TICKET_STATUS = Route("send_ticket_status", "ticket_status-default")
# Internal to notification_service: email runs on its own queue so slow SMTP never delays in-app storage.
NOTIFICATION_EMAIL = Route("notifications.send_email", "notification-email")
# Scheduled (celery beat): queues again email deliveries whose message was lost, for the email workers.
EMAIL_SWEEP = Route("notifications.email.requeue_stalled", "notification-email")
# Scheduled (celery beat): queues the scheduled emails now due (unread delays, ends of quiet hours).
EMAIL_DUE = Route("notifications.email.release_due", "notification-email")
# Scheduled (celery beat): sends the daily digests of the users now at their digest hour.
EMAIL_DIGESTS = Route("notifications.email.send_digests", "notification-email")
# Internal to workflow_api: jobs celery beat sends (SLA monitor, dead-letter intake), kept off the intake queues.
SLA_SCAN = Route("workflow.sla.scan", "workflow-scheduled")
DEAD_LETTER_DRAIN = Route("workflow.dead_letters.drain", "workflow-scheduled")
EXTERNAL_RETRY_SCAN = Route("workflow.external.retry_scan", "workflow-scheduled")
# Scheduled (celery beat): publishes the messages parked when the broker refused them after commit (tts_common.unsent).
UNSENT_RESEND = Route("tts.unsent.resend", "workflow-scheduled")
# Internal to workflow_api: one AMS/BMS check per message, on its own queue so that calls of up to a minute never
# hold up intake, role sync or the scheduled jobs.
EXTERNAL_CHECK = Route("workflow.external.check", "workflow-external")
# workflow_api -> messaging_service: the participants of tickets' tasks (assignee, owner, past assignees), so that
# messaging_service decides who reads a ticket's comments from a copy of its own, never by calling the workflow API
# back. One message covers a batch of tasks (an intake batch is one message).
TICKET_PARTICIPANTS = Route("messaging.ticket_participants.sync", "messaging-ticket-participants")

ROUTES: tuple[Route, ...] = (
    RECEIVE_TICKET,
    ROLE_SEND,
    ROLE_SYNC,
    ASSIGNMENT_NOTIFICATION,
    INAPP_NOTIFICATION,
    TICKET_STATUS,
    NOTIFICATION_EMAIL,
    EMAIL_SWEEP,
    EMAIL_DUE,
    EMAIL_DIGESTS,
    SLA_SCAN,
    DEAD_LETTER_DRAIN,
    EXTERNAL_RETRY_SCAN,
    UNSENT_RESEND,
    EXTERNAL_CHECK,
    TICKET_PARTICIPANTS,
)

# Dead letters are published here by our consumers, with their reason; the DEAD_LETTER_DRAIN job moves them into
# workflow_api's dead-letter table for admins (no worker consumes the queue itself).
TICKET_DLQ = "TICKET_TASKS_PRODUCTION_DLQ"

# Which queues each service's worker consumes.
SERVICE_QUEUES: dict[str, tuple[str, ...]] = {
    "workflow_api": (RECEIVE_TICKET.queue, ROLE_SEND.queue, ROLE_SYNC.queue, SLA_SCAN.queue),
    # AMS/BMS calls wait up to a minute on an outside system: a worker group of their own, so they never take the
    # pool slots intake needs.
    "workflow_external": (EXTERNAL_CHECK.queue,),
    "notification_service": (ASSIGNMENT_NOTIFICATION.queue, INAPP_NOTIFICATION.queue),
    # A worker group of its own, so that email never takes the pool slots in-app storage needs.
    "notification_email": (NOTIFICATION_EMAIL.queue,),
    "ticket_service": (TICKET_STATUS.queue,),
    "messaging_service": (TICKET_PARTICIPANTS.queue,),
}
ALL_CONSUMED_QUEUES: tuple[str, ...] = tuple(q for qs in SERVICE_QUEUES.values() for q in qs)


def declared_queue(name: str) -> Queue:
    """The queue as a default Celery producer would declare it."""
    return Queue(name, Exchange(name, type="direct", durable=True), routing_key=name, durable=True)


def task_queues() -> list[Queue]:
    return [declared_queue(route.queue) for route in ROUTES]


def task_routes() -> dict[str, dict[str, str]]:
    return {route.task: {"queue": route.queue, "routing_key": route.queue} for route in ROUTES}
