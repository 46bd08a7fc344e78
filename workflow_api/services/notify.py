"""Messages the engine sends other services (DESIGN §2). All are published only once the caller's transaction
commits, so a rolled-back batch never notifies anyone, and nothing is sent for work that did not happen; a call
publishes its messages together, through the outbox (:mod:`tts_common.messaging.outbox`)."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings

from tts_common import contracts
from tts_common.base import permissions
from tts_common.contracts.messages import AssignmentNotification, InAppNotification, TaskParticipants
from tts_common.messaging import outbox
from tts_common.messaging.outbox import Message
from workflow_api.models import Assignment, RoleReplica, Task, UserReplica


def _notification(route: contracts.Route, payload: dict[str, Any], dedup_key: str | None = None) -> Message:
    """A notification whose ``dedup_key`` is the caller's, or else its message id: notification_service stores each
    message once however often it arrives (the outbox may send one twice), and two equal notifications (a task
    handed back to the same user) are still two."""
    message = Message(route, payload)
    payload["dedup_key"] = dedup_key or str(message.id)
    return message


def _assignment(task: Task, user_id: int, role_name: str) -> Message:
    message: AssignmentNotification = {
        "user_id": user_id,
        "task_id": str(task.task_id),
        "task_title": task.title,
        "role_name": role_name,
        "ticket_id": task.external_ticket_id,
    }
    return _notification(contracts.ASSIGNMENT_NOTIFICATION, dict(message))


def assignment_row_messages(rows: Iterable[tuple[str, str, str, int, str]]) -> list[Message]:
    """:func:`assignment_messages` from plain values ``(task_id, task_title, ticket_id, user_id, role_name)`` (the
    intake hot path has no Task instances)."""
    route = contracts.ASSIGNMENT_NOTIFICATION
    return [
        _notification(
            route,
            {"user_id": user_id, "task_id": task_id, "task_title": title, "role_name": role_name, "ticket_id": ticket_id},
        )
        for task_id, title, ticket_id, user_id, role_name in rows
    ]


def notify_assignment(task: Task, user_id: int, role_name: str) -> None:
    """``task.send_assignment_notification`` to the task's new assignee."""
    notify_assignments([(task, user_id, role_name)])


def assignment_messages(assignments: Sequence[tuple[Task, int, str]]) -> list[Message]:
    """One ``task.send_assignment_notification`` per (task, user_id, role_name), for a caller that publishes them
    with other messages (one publisher-confirm wait for the lot)."""
    return [_assignment(*assignment) for assignment in assignments]


def notify_assignments(assignments: Sequence[tuple[Task, int, str]]) -> None:
    """:func:`notify_assignment` for many (task, user_id, role_name) at once."""
    outbox.publish(assignment_messages(assignments))


def notify_users(user_ids: Iterable[int], notification_type: str, subject: str, message: str, **kw: Any) -> None:
    """One ``notifications.create_inapp`` per user (keyword arguments as :func:`inapp_messages`)."""
    outbox.publish(inapp_messages(user_ids, notification_type, subject, message, **kw))


def inapp_messages(
    user_ids: Iterable[int],
    notification_type: str,
    subject: str,
    message: str,
    *,
    task: Task | None = None,
    ticket_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    dedup_key: str | None = None,
) -> list[Message]:
    """One ``notifications.create_inapp`` message per user, for :func:`notify_users` or for a caller notifying about
    many tasks that publishes them together (one publisher-confirm wait for the lot, not one per task).
    ``dedup_key`` names the notification for the notification service, which stores it once per user."""
    messages = []
    for user_id in user_ids:
        payload: InAppNotification = {
            "user_id": user_id,
            "subject": subject,
            "message": message,
            "notification_type": notification_type,
            "related_task_id": str(task.task_id) if task else None,
            "related_ticket_id": ticket_id or (task.external_ticket_id if task else None),
            "metadata": metadata or {},
        }
        messages.append(_notification(contracts.INAPP_NOTIFICATION, dict(payload), dedup_key))
    return messages


def admin_user_ids() -> list[int]:
    """Active replica users holding an active TTS role with the admin permission (DESIGN §5)."""
    admin_roles = RoleReplica.objects.filter(
        system=settings.TTS_SYSTEM, is_active=True, permissions__contains=[permissions.ADMIN]
    ).values("role_id")
    return list(
        UserReplica.objects.filter(is_active=True, roles__role_id__in=admin_roles)
        .order_by("user_id")
        .values_list("user_id", flat=True)
        .distinct()
    )


def notify_admins(notification_type: str, subject: str, message: str, **kw: Any) -> None:
    """:func:`notify_users` for every admin (keyword arguments as there)."""
    notify_users(admin_user_ids(), notification_type, subject, message, **kw)


def send_ticket_status(ticket_id: str, status: str, *, tell_deployed_hdts: bool = True) -> None:
    """``send_ticket_status`` back to HDTS: DESIGN §2's (the internal status, to ticket_service) and, when
    ``HDTS_STATUS_QUEUE`` is set, the deployed HDTS's (its own status value, contracts.HDTS_STATUS_OF).
    ``tell_deployed_hdts=False`` for a change HDTS itself made (it closed or withdrew the ticket). The ticket's
    status messages leave in commit order (the caller holds the task's lock)."""
    messages = [Message(contracts.TICKET_STATUS, args=(ticket_id, status), ordering_key=ticket_id)]
    queue = deployed_hdts_queue()
    if tell_deployed_hdts and queue and status in contracts.HDTS_STATUS_OF:
        route = contracts.Route(contracts.HDTS_TICKET_STATUS_TASK, queue)
        messages.append(Message(route, args=(ticket_id, contracts.HDTS_STATUS_OF[status]), ordering_key=ticket_id))
    outbox.publish(messages)


def deployed_hdts_queue() -> str | None:
    """The queue the deployed HDTS's worker consumes (settings.HDTS_STATUS_QUEUE), checked again here so that no
    override can point it at a queue of ours; ``None``: nothing is sent to the deployed HDTS."""
    return contracts.hdts_status_queue(settings.HDTS_STATUS_QUEUE)


def ticket_owner_messages(owners: Iterable[tuple[str, int | None]]) -> list[Message]:
    """``update_ticket_owner`` (args ``[ticket_number, owner_id]``) to the deployed HDTS for each ticket given an
    owner, when ``HDTS_STATUS_QUEUE`` is set (else none)."""
    queue = deployed_hdts_queue()
    if not queue:
        return []
    route = contracts.Route(contracts.HDTS_TICKET_OWNER_TASK, queue)
    return [Message(route, args=(ticket_id, owner_id)) for ticket_id, owner_id in owners if owner_id is not None]


def participants_messages(tasks: Iterable[tuple[str, str, Iterable[int | None]]]) -> list[Message]:
    """The ``messaging.ticket_participants.sync`` for these tasks, ``(ticket_id, task_id, participant user ids)``
    (``None``s skipped): one message for them all, so that messaging_service knows who may read each ticket's
    comments. Every task is sent, even one nobody takes part in yet: its ticket then exists for admins."""
    rows = [(ticket_id, task_id, sorted({user for user in users if user is not None})) for ticket_id, task_id, users in tasks]
    if not rows:
        return []
    usernames = dict(
        UserReplica.objects.filter(pk__in={user for *_, users in rows for user in users}).values_list("pk", "username")
    )
    payload: list[TaskParticipants] = [
        {
            "ticket_id": ticket_id,
            "task_id": task_id,
            "participants": [{"user_id": user, "username": usernames[user]} for user in users],
        }
        for ticket_id, task_id, users in rows
    ]
    return [Message(contracts.TICKET_PARTICIPANTS, {"tasks": payload})]


def task_participants_messages(tasks: Sequence[Task]) -> list[Message]:
    """:func:`participants_messages` for saved tasks, each with its whole participant set: its owner, its assignee
    and everyone its assignment history names (a snapshot, so that one lost message is made good by the next)."""
    held: dict[object, set[int]] = defaultdict(set)
    for task_pk, user_id in Assignment.objects.filter(task__in=tasks).values_list("task_id", "user_id"):
        held[task_pk].add(user_id)
    return participants_messages(
        (task.external_ticket_id, str(task.task_id), [task.owner_id, task.assigned_user_id, *held[task.pk]])
        for task in tasks
    )


PARTICIPANT_SYNC_CHUNK = 500


def republish_all_participants() -> int:
    """Send messaging_service every task's participants again, :data:`PARTICIPANT_SYNC_CHUNK` tasks a message:
    the backfill of an install whose tasks predate the sync, or a repair. Safe to repeat (the copy only grows);
    returns how many tasks were sent."""
    sent = 0
    last = None
    while True:
        tasks = Task.objects.only("task_id", "external_ticket_id", "owner_id", "assigned_user_id").order_by("task_id")
        chunk = list((tasks.filter(task_id__gt=last) if last else tasks)[:PARTICIPANT_SYNC_CHUNK])
        if not chunk:
            return sent
        outbox.publish(task_participants_messages(chunk))
        sent += len(chunk)
        last = chunk[-1].task_id
