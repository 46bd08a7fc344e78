"""Celery consumers of workflow_api's queues (DESIGN §2). Each only decodes a message and calls a service;
reliability (late acks, retries, dead-lettering, batching) lives in :mod:`tts_common.messaging.worker`."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from celery import current_app, shared_task
from django.utils import timezone

from tts_common import contracts
from tts_common.contracts.messages import RoleData, UserData
from tts_common.messaging.worker import BatchConsumer, PermanentError, QueueConsumer
from workflow_api.services import external, hdts_status, ingestion, replica
from workflow_api.services.hdts_status import HdtsStatus
from workflow_api.services.ingestion import IncomingTicket
from workflow_api.services.integration_errors import record_integration_error


class IntegrationErrorsMixin:
    """Messages that give up are recorded in the integration-errors table."""

    name: str

    def on_give_up(self, kwargs: dict[str, Any], reason: str, retries: int) -> None:
        source = next(route.queue for route in contracts.ROUTES if route.task == self.name)
        record_integration_error(source=source, kwargs=kwargs, reason=reason, retries=retries)


def first_argument_as(key: str, args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The deployed HDTS passes its payload as the first positional argument (``task.delay(payload)``); DESIGN §2
    as a keyword. Either way the consumer, its retries and its dead letters then see ``kwargs[key]``."""
    if args and key not in kwargs:
        return {key: args[0], **kwargs}
    return kwargs


class ReceiveTicketConsumer(IntegrationErrorsMixin, BatchConsumer[IncomingTicket]):
    """``tickets.tasks.receive_ticket``: HDTS tickets become tasks, a batch at a time. Accepts DESIGN §3's form
    (``kwargs={"ticket_data": ...}``) and the deployed HDTS's (``args=[ticket]``, its own field names:
    :mod:`tts_common.base.hdts_deployed`)."""

    name = contracts.RECEIVE_TICKET.task
    dead_letter_source = contracts.RECEIVE_TICKET.queue

    def message_kwargs(self, args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        return first_argument_as("ticket_data", args, kwargs)

    def decode(self, kwargs: dict[str, Any]) -> IncomingTicket:
        try:
            return ingestion.parse_ticket(
                kwargs.get("ticket_data"), kwargs.get("signature"), kwargs.get("signed_at"), received_at=timezone.now()
            )
        except ingestion.InvalidTicket as exc:
            raise PermanentError(str(exc)) from exc

    def process(self, items: Sequence[IncomingTicket]) -> None:
        ingestion.ingest_tickets(items, return_tasks=False)


class ReceiveHdtsTicketStatusConsumer(IntegrationErrorsMixin, BatchConsumer[HdtsStatus]):
    """``tts.tasks.receive_hdts_ticket_status``: the deployed HDTS closed or withdrew a ticket on its side. On the
    ticket queue, whose messages are consumed in batches (routed here by task name); such messages are rare."""

    name = contracts.RECEIVE_HDTS_TICKET_STATUS.task
    dead_letter_source = contracts.RECEIVE_HDTS_TICKET_STATUS.queue
    flush_every = 50

    def message_kwargs(self, args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        return first_argument_as("status_data", args, kwargs)

    def decode(self, kwargs: dict[str, Any]) -> HdtsStatus:
        try:
            return hdts_status.parse_status(kwargs.get("status_data"), kwargs.get("signature"), kwargs.get("signed_at"))
        except hdts_status.InvalidStatus as exc:
            raise PermanentError(str(exc)) from exc

    def process(self, items: Sequence[HdtsStatus]) -> None:
        hdts_status.apply_statuses(items)


def _fields(payload: Any, name: str, types: dict[str, type | tuple[type, ...]]) -> None:
    """Reject (for good) a payload that is not a dict with these keys of these types."""
    if not isinstance(payload, dict):
        raise PermanentError(f"validation: {name} must be an object")
    for key, expected in types.items():
        value = payload.get(key)
        if not isinstance(value, expected) or (isinstance(value, bool) and expected is int):
            raise PermanentError(f"validation: {name}.{key} is missing or not {getattr(expected, '__name__', expected)}")


def decode_role(kwargs: dict[str, Any]) -> RoleData:
    role = kwargs.get("role_data")
    _fields(role, "role_data", {"role_id": int, "system": str, "name": str, "is_active": bool, "version": int})
    return {**role, "permissions": list(role.get("permissions") or [])}


def decode_user(kwargs: dict[str, Any]) -> UserData:
    user = kwargs.get("user_data")
    _fields(user, "user_data", {"user_id": int, "username": str, "is_active": bool, "version": int, "system_roles": list})
    for role in user["system_roles"]:
        _fields(role, "user_data.system_roles[]", {"system": str, "role_id": int, "role_name": str})
    return {**user, "email": user.get("email") or ""}


class RecordedQueueConsumer(IntegrationErrorsMixin, QueueConsumer):
    abstract = True


@shared_task(base=RecordedQueueConsumer, bind=True, name=contracts.ROLE_SEND.task)
def role_send(self: QueueConsumer, **kwargs: Any) -> None:
    """``workflow.role.send``: one role's latest state (rare; no batching needed)."""
    replica.apply_role(decode_role(kwargs))


@shared_task(
    base=RecordedQueueConsumer,
    bind=True,
    name=contracts.EXTERNAL_CHECK.task,
    soft_time_limit=external.check_time_limit_seconds(),
    time_limit=external.check_time_limit_seconds() + 30,
)
def external_check(self: QueueConsumer, **kwargs: Any) -> None:
    """``workflow.external.check``: one AMS/BMS check (an outage is an outcome, not an error: it is not retried
    here; the retry scan asks again)."""
    _fields(kwargs, "kwargs", {"task_id": str, "attempt": int})
    try:
        task_id = UUID(kwargs["task_id"])
    except ValueError as exc:
        raise PermanentError("validation: kwargs.task_id is not a UUID") from exc
    external.external_check(task_id=task_id, attempt=kwargs["attempt"])


class RoleSyncConsumer(IntegrationErrorsMixin, BatchConsumer[UserData]):
    """``workflow.role.sync``: users' role snapshots, batched (a bulk sync sends thousands at once)."""

    name = contracts.ROLE_SYNC.task
    flush_every = 100

    def decode(self, kwargs: dict[str, Any]) -> UserData:
        return decode_user(kwargs)

    def process(self, items: Sequence[UserData]) -> None:
        replica.apply_user_snapshots(items)


receive_ticket = current_app.register_task(ReceiveTicketConsumer())
receive_hdts_ticket_status = current_app.register_task(ReceiveHdtsTicketStatusConsumer())
role_sync = current_app.register_task(RoleSyncConsumer())
