"""Consumer of ``send_ticket_status`` (DESIGN §2: args ``[ticket_id, new_status]``) from the workflow engine."""
from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from tts_common import contracts
from tts_common.base import hdts
from tts_common.messaging.worker import PermanentError, QueueConsumer

from . import services

logger = logging.getLogger(__name__)

STATUS_MAX_LENGTH = 64


def decode_status(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, str]:
    """``(ticket_id, new_status)`` from the message (positional per the contract; keywords tolerated)."""
    values = dict(zip(("ticket_id", "new_status"), args, strict=False)) | kwargs
    ticket_id, new_status = values.get("ticket_id"), values.get("new_status")
    if (
        len(args) + len(kwargs) != 2
        or isinstance(ticket_id, bool)
        or not isinstance(ticket_id, (str, int))
        or not 0 < len(str(ticket_id)) <= hdts.NAME_MAX_LENGTH
    ):
        raise PermanentError(f"expected args [ticket_id, new_status], got args={args!r} kwargs={kwargs!r}")
    if not isinstance(new_status, str) or not new_status.strip() or len(new_status) > STATUS_MAX_LENGTH:
        raise PermanentError(f"new_status must be a non-empty string of at most {STATUS_MAX_LENGTH} characters")
    return str(ticket_id), new_status.strip()


@shared_task(base=QueueConsumer, name=contracts.TICKET_STATUS.task, bind=True)
def send_ticket_status(self: QueueConsumer, *args: Any, **kwargs: Any) -> None:
    try:
        ticket_id, new_status = decode_status(args, kwargs)
    except PermanentError:
        # The base class logs only kwargs when it gives up; the positional payload is logged here.
        logger.error("undecodable status message", extra={"operation": self.name, "message_args": repr(args)[:500]})
        raise
    services.record_status(ticket_id, new_status, message_id=self.request.id)
