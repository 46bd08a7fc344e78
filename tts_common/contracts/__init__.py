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
# The deployed HDTS (mrccdrc27/MAP-SYSTEM, hdts/helpdesk/core/tasks.py) tells us on the ticket queue when one of its
# tickets is Closed or Withdrawn on its side, ``args=[{ticket_number, status, csat_rating?, feedback?,
# date_completed?}]``: a second legitimate task of TICKET_TASKS_PRODUCTION, routed by its task name.
RECEIVE_HDTS_TICKET_STATUS = Route("tts.tasks.receive_hdts_ticket_status", RECEIVE_TICKET.queue)
ROLE_SEND = Route("workflow.role.send", "role_send-default")
ROLE_SYNC = Route("workflow.role.sync", "tts.role.sync")
ASSIGNMENT_NOTIFICATION = Route("task.send_assignment_notification", "notification-queue-default")
INAPP_NOTIFICATION = Route("notifications.create_inapp", "inapp-notification-queue")
TICKET_STATUS = Route("send_ticket_status", "ticket_status-default")
# workflow_api -> the deployed HDTS, on the queue its worker consumes (settings.HDTS_STATUS_QUEUE; unset: not sent),
# never one of ours (ALL_CONSUMED_QUEUES): that HDTS runs these two tasks by name, whatever queue brings them.
# ``send_ticket_status`` (the name TICKET_STATUS uses too: HDTS's own task of that name) with args
# ``[ticket_number, hdts_status]``, its status values (HDTS_STATUS_OF below); ``update_ticket_owner`` with args
# ``[ticket_number, owner_id]`` when the engine gives a ticket its owner (the coordinator).
HDTS_TICKET_STATUS_TASK = TICKET_STATUS.task
HDTS_TICKET_OWNER_TASK = "update_ticket_owner"
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
# Scheduled (celery beat): folds the report deltas into their 15-minute buckets (workflow_api.services.reports).
REPORTS_FOLD = Route("workflow.reports.fold", "workflow-scheduled")
# Scheduled (celery beat): publishes the outbox rows left behind by a process that died between its commit and the
# broker's confirm, or by a broker that refused them (tts_common.messaging.outbox).
OUTBOX_RELAY = Route("tts.outbox.relay", "workflow-scheduled")
# Internal to workflow_api: one AMS/BMS check per message, on its own queue so that calls of up to a minute never
# hold up intake, role sync or the scheduled jobs.
EXTERNAL_CHECK = Route("workflow.external.check", "workflow-external")
# workflow_api -> messaging_service: the participants of tickets' tasks (assignee, owner, past assignees), so that
# messaging_service decides who reads a ticket's comments from a copy of its own, never by calling the workflow API
# back. One message covers a batch of tasks (an intake batch is one message).
TICKET_PARTICIPANTS = Route("messaging.ticket_participants.sync", "messaging-ticket-participants")

ROUTES: tuple[Route, ...] = (
    RECEIVE_TICKET,
    RECEIVE_HDTS_TICKET_STATUS,
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
    REPORTS_FOLD,
    OUTBOX_RELAY,
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


# Task status (internal) -> the deployed HDTS's ticket status (its STATUS_CHOICES: New, Open, In Progress, On Hold,
# Pending, Resolved, Rejected, Withdrawn, Closed). ``completed`` is Resolved: only HDTS closes a ticket (its
# requester, or its 72-hour auto-close), and tells us with ``receive_hdts_ticket_status``. Statuses missing here
# (``cancelled``: HDTS withdrew the ticket itself) are not sent back.
HDTS_STATUS_OF: dict[str, str] = {
    "pending": "Open",
    "in_progress": "In Progress",
    "awaiting_external": "In Progress",
    "pending_external_approval": "On Hold",
    "awaiting_asset_selection": "In Progress",
    "on_hold": "On Hold",
    "completed": "Resolved",
    "rejected": "Rejected",
}


def hdts_status_queue(name: str | None) -> str | None:
    """The configured queue for messages to the deployed HDTS (``None``/blank: none are sent); raises ``ValueError``
    for a queue one of our own workers consumes, which would take HDTS's messages for itself."""
    if not name:
        return None
    if name in ALL_CONSUMED_QUEUES or name == TICKET_DLQ:
        raise ValueError(
            f"HDTS_STATUS_QUEUE={name!r} is a queue of ours (a TTS worker consumes it); name the queue the deployed "
            "HDTS worker consumes (e.g. ticket_tasks2)"
        )
    return name


def declared_queue(name: str) -> Queue:
    """The queue as a default Celery producer would declare it."""
    return Queue(name, Exchange(name, type="direct", durable=True), routing_key=name, durable=True)


def task_queues() -> list[Queue]:
    return [declared_queue(route.queue) for route in ROUTES]


def task_routes() -> dict[str, dict[str, str]]:
    return {route.task: {"queue": route.queue, "routing_key": route.queue} for route in ROUTES}
