"""Celery consumer of messaging_service's queue: ``messaging.ticket_participants.sync`` (see
:mod:`tts_common.contracts`). It only decodes and calls a service; reliability lives in :mod:`tts_common.messaging.worker`.

A message that gives up is logged (and counted in the metrics) but kept nowhere else: the next change of its task
sends its whole participant set again, and ``manage.py sync_ticket_participants`` republishes every task's.
"""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from celery import current_app

from tts_common import contracts
from tts_common.contracts.messages import TaskParticipants
from tts_common.messaging.worker import BatchConsumer, PermanentError

from . import services
from .models import TicketParticipant, TicketReplica

TICKET_ID_MAX_LENGTH = TicketReplica._meta.get_field("ticket_id").max_length
USERNAME_MAX_LENGTH = TicketParticipant._meta.get_field("username").max_length


def _invalid(reason: str) -> PermanentError:
    return PermanentError(f"validation: {reason}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def decode_task(task: Any) -> TaskParticipants:
    if not isinstance(task, dict):
        raise _invalid("tasks[] must be objects")
    ticket_id, task_id, participants = task.get("ticket_id"), task.get("task_id"), task.get("participants")
    if not isinstance(ticket_id, str) or not 0 < len(ticket_id) <= TICKET_ID_MAX_LENGTH:
        raise _invalid(f"tasks[].ticket_id must be a string of 1 to {TICKET_ID_MAX_LENGTH} characters")
    try:
        task_id = str(uuid.UUID(task_id))
    except (TypeError, ValueError, AttributeError):
        raise _invalid("tasks[].task_id must be a UUID") from None
    if not isinstance(participants, list):
        raise _invalid("tasks[].participants must be a list")
    for participant in participants:
        if not isinstance(participant, dict) or not _is_int(participant.get("user_id")):
            raise _invalid("tasks[].participants[].user_id must be an integer")
        username = participant.get("username")
        if not isinstance(username, str) or len(username) > USERNAME_MAX_LENGTH:
            raise _invalid(f"tasks[].participants[].username must be a string of at most {USERNAME_MAX_LENGTH}")
    return {
        "ticket_id": ticket_id,
        "task_id": task_id,
        "participants": [{"user_id": p["user_id"], "username": p["username"]} for p in participants],
    }


class TicketParticipantsConsumer(BatchConsumer[list[TaskParticipants]]):
    """``messaging.ticket_participants.sync``: the participants of a batch of tasks per message, many messages per
    call (intake sends one message per batch of tickets it ingests)."""

    name = contracts.TICKET_PARTICIPANTS.task

    def decode(self, kwargs: dict[str, Any]) -> list[TaskParticipants]:
        tasks = kwargs.get("tasks")
        if not isinstance(tasks, list):
            raise _invalid("tasks must be a list")
        return [decode_task(task) for task in tasks]

    def process(self, items: Sequence[list[TaskParticipants]]) -> None:
        services.ticket_participants_record([task for tasks in items for task in tasks])


ticket_participants_sync = current_app.register_task(TicketParticipantsConsumer())
