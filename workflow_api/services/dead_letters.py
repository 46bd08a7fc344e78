"""Dead letters (DESIGN §2–3): tickets that could never be ingested, moved from ``TICKET_TASKS_PRODUCTION_DLQ`` into
the ``DeadLetter`` table, where admins inspect them and then reprocess (republish, corrected if need be) or
discard them; and the status of the integration-errors table, the give-up record of every consumer.

The queue is only the durable hand-over: a queue cannot be listed, paged or updated in place (a basic_get walk
would redeliver, reorder and race between readers). ``dead_letters_drain`` (a scheduled job) stores a batch,
commits, then acks it; a crash in between redelivers the batch, and the unique message key stores it once.
Each stored letter is linked to the IntegrationError its consumer wrote for the same message, so resolving one
resolves the other.

The admins are told (``dead_letter`` notifications, emailed per their preferences) in groups: after each drain,
the letters no notice has counted yet become one :class:`DeadLetterNotice` — unless the previous notice is less
than ``DEAD_LETTER_NOTICE_INTERVAL_SECONDS`` old, when they wait for a later drain. Drains in several workers take
turns on an advisory lock, a letter is counted by exactly one notice (stored once by its unique key), and each admin's
notification carries the notice's id as its key, so a redelivered publish is stored once: the counts an admin receives
add up to the letters stored, with at most one notice per interval.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Field
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from kombu.message import Message

from tts_common import contracts
from tts_common.base import hdts, hdts_deployed, signing, text
from tts_common.base.database import lock_then_read
from tts_common.base.errors import Conflict, Invalid, NotFound
from tts_common.http.auth import TokenUser
from tts_common.messaging import outbox
from workflow_api.models import TICKET_ID_MAX_LENGTH, DeadLetter, DeadLetterNotice, IntegrationError
from workflow_api.services import notify
from workflow_api.services.audit import audit_event, record_events

logger = logging.getLogger(__name__)

DRAIN_BATCH = 200
DRAIN_LIMIT = 2000  # per run; the next run takes the rest
# A consumer publishes the dead letter *then* records its IntegrationError: letters this recent that found none
# yet are matched again on later runs.
LINK_WINDOW = timedelta(minutes=10)
NOTICE_LOCK_KEY = 0x7454_5302  # advisory lock: one notifier at a time (intake_lock has 0x7454_5301)


# --- From the queue into the table ---------------------------------------------------------------------------------
def dead_letters_drain(*, limit: int = DRAIN_LIMIT) -> int:
    """Move up to ``limit`` messages from the dead-letter queue into the table; returns how many were new."""
    from tts.celery import app

    stored = seen = 0
    with app.connection_for_read() as connection:
        queue = contracts.declared_queue(contracts.TICKET_DLQ)(connection.default_channel)
        queue.declare()
        while seen < limit:
            messages: list[Message] = []
            while len(messages) < min(DRAIN_BATCH, limit - seen) and (message := queue.get(no_ack=False)) is not None:
                messages.append(message)
            if not messages:
                break
            seen += len(messages)
            stored += _store([_parse(message) for message in messages])  # committed before the acks
            for message in messages:
                message.ack()
    if stored:
        logger.warning("dead letters stored", extra={"operation": "dead_letters.drain", "count": stored})
    _link_integration_errors()
    return stored


def _max_length(name: str) -> int | None:
    """How many characters DeadLetter's column ``name`` holds (None: a text column, no limit)."""
    field = DeadLetter._meta.get_field(name)
    return field.max_length if isinstance(field, Field) else None


def _parse(message: Message) -> DeadLetter:
    """A dead letter from one message: ours (``publisher.dead_letter``'s ``{reason, source_queue, dead_lettered_at,
    message: {task, kwargs, retries}}``), a Celery task message put here otherwise (a broker dead-letter policy, a
    manual move), or anything else kept as raw text for an admin to read."""
    raw = message.body if isinstance(message.body, bytes) else str(message.body).encode()
    headers = message.headers or {}
    letter = DeadLetter(
        message_key=(message.properties.get("message_id") or hashlib.sha256(raw).hexdigest())[:64],
        reason=str(headers.get("x-reason") or ""),
        received_at=timezone.now(),
    )
    try:
        body: object = message.decode()  # JSON: anything
    except Exception:  # undecodable: kept as text
        body = None
    original = body.get("message") if isinstance(body, dict) else None
    if isinstance(body, dict) and isinstance(original, dict):
        letter.reason = str(body.get("reason") or letter.reason)
        letter.source_queue = str(body.get("source_queue") or "")
        letter.dead_lettered_at = parse_datetime(str(body.get("dead_lettered_at") or ""))
        letter.task_name = str(original.get("task") or "")
        letter.kwargs = original.get("kwargs") if isinstance(original.get("kwargs"), dict) else {}
        retries = original.get("retries")
        letter.retries = retries if isinstance(retries, int) else 0
    elif headers.get("task") and isinstance(body, list | tuple) and len(body) == 3 and isinstance(body[1], dict):
        deaths = headers.get("x-death")  # RabbitMQ's: a list of tables, the latest death first
        death: dict[str, Any] = deaths[0] if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict) else {}
        letter.task_name = str(headers["task"])
        letter.kwargs = body[1]
        letter.source_queue = str(death.get("queue") or "")
        letter.reason = letter.reason or str(death.get("reason") or "dead-lettered by the broker")
    else:
        letter.raw = raw.decode(errors="replace")
        letter.reason = letter.reason or "Not a dead letter TTS can read."
    # Stored whatever it holds (a letter that failed its batch would block the queue): text the database cannot
    # store is replaced, and names are cut to their columns.
    for field in ("reason", "source_queue", "task_name", "raw"):
        setattr(letter, field, text.storable(getattr(letter, field))[: _max_length(field)])
    letter.kwargs = text.storable(letter.kwargs)
    ticket_id = hdts_deployed.message_ticket_id(letter.kwargs)
    letter.ticket_id = str(ticket_id)[:255] if isinstance(ticket_id, str | int) else ""
    return letter


@transaction.atomic
def _store(letters: Sequence[DeadLetter]) -> int:
    keys = [letter.message_key for letter in letters]
    known = set(DeadLetter.objects.filter(message_key__in=keys).values_list("message_key", flat=True))
    new = {letter.message_key: letter for letter in letters if letter.message_key not in known}
    # ON CONFLICT DO NOTHING: a redelivered letter another drain stores at the same time is stored once.
    DeadLetter.objects.bulk_create(new.values(), ignore_conflicts=True)
    return len(new)


@transaction.atomic
def _link_integration_errors() -> None:
    """Link recent unlinked letters to the unlinked IntegrationError of the same message (same queue, same
    kwargs), oldest first on both sides, in a constant number of queries."""
    since = timezone.now() - LINK_WINDOW
    letters = list(
        DeadLetter.objects.select_for_update(skip_locked=True)
        .filter(integration_error__isnull=True, received_at__gte=since)
        .order_by("received_at", "id")
    )
    if not letters:
        return
    errors = IntegrationError.objects.filter(
        dead_letter__isnull=True, source__in={letter.source_queue for letter in letters}, created_at__gte=since - LINK_WINDOW
    ).order_by("created_at", "id")
    candidates: dict[tuple[str, str], list[IntegrationError]] = defaultdict(list)
    for error in errors:
        candidates[(error.source, _canonical(error.payload))].append(error)
    linked = []
    for letter in letters:
        matches = candidates.get((letter.source_queue, _canonical(letter.kwargs)))
        if matches:
            letter.integration_error = matches.pop(0)
            linked.append(letter)
    DeadLetter.objects.bulk_update(linked, ["integration_error"])


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@transaction.atomic
def dead_letters_notify_admins() -> DeadLetterNotice | None:
    """Tell the admins about the letters stored since the last notice, unless that one is too recent (see the
    module docstring); returns the new notice, if any."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [NOTICE_LOCK_KEY])
    now = timezone.now()
    last = DeadLetterNotice.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    if last is not None and now - last < timedelta(seconds=settings.DEAD_LETTER_NOTICE_INTERVAL_SECONDS):
        return None
    untold = DeadLetter.objects.filter(notice__isnull=True)
    if not untold.exists():
        return None
    notice = DeadLetterNotice.objects.create(created_at=now, count=0)
    notice.count = untold.update(notice=notice)
    notice.save(update_fields=["count"])
    notify.notify_users(
        notify.admin_user_ids(),
        "dead_letter",
        f"{notice.count} dead-lettered ticket{'s' if notice.count != 1 else ''}",
        f"{notice.count} message{'s' if notice.count != 1 else ''} could not be ingested and wait in Intake › Dead "
        "letters to be corrected and reprocessed, or discarded.",
        metadata={"count": notice.count, "notice_id": notice.pk},
        dedup_key=f"dead_letter_notice:{notice.pk}",
    )
    logger.warning("admins told of dead letters", extra={"operation": "dead_letters.notify", "count": notice.count})
    return notice


# --- Admin actions ---------------------------------------------------------------------------------------------------
def _lock_pending(dead_letter_id: int) -> DeadLetter:
    locked = lock_then_read(DeadLetter.objects.filter(pk=dead_letter_id), "integration_error")
    if not locked:
        raise NotFound("Dead letter not found.")
    letter = locked[0]
    if letter.status != DeadLetter.Status.PENDING:
        raise Conflict(f"This dead letter is already {letter.status}.")
    return letter


def _resolve(
    letter: DeadLetter, status: DeadLetter.Status, *, actor: TokenUser | None, note: str, now: datetime, **data: Any
) -> None:
    """Close the letter and its IntegrationError, with an audit event for the letter."""
    letter.status = status
    letter.resolved_at = now
    letter.resolved_by_id = actor.id if actor is not None else None
    letter.resolution_note = note
    letter.save(update_fields=["status", "resolved_at", "resolved_by_id", "resolution_note"])
    error = letter.integration_error
    if error is not None and error.status != IntegrationError.Status.RESOLVED:
        error.status = IntegrationError.Status.RESOLVED
        error.save(update_fields=["status", "updated_at"])
    record_events(
        [
            audit_event(
                f"dead_letter.{status}",
                entity_type="dead_letter",
                entity_id=str(letter.pk),
                actor_id=actor.id if actor is not None else None,
                actor_username=actor.username if actor is not None else "",
                ticket_id=letter.ticket_id,
                data={"integration_error_id": error.pk if error else None, "note": note, **data},
                at=now,
            )
        ]
    )


def _ticket_errors(ticket_data: Any) -> tuple[dict[str, list[str]], str]:
    """(field errors, ticket id) of a ticket about to be republished, in either form (tts_common.base.hdts_deployed)."""
    deployed = hdts_deployed.is_deployed_form(ticket_data)
    if deployed:
        try:
            ticket_data = hdts_deployed.to_design(ticket_data)
        except hdts_deployed.DeployedTicketError as exc:
            field, _, message = str(exc).partition(": ")
            return {field: [message]}, ""
    errors = hdts.ticket_field_errors(ticket_data, deployed=deployed)
    rename = hdts_deployed.source_field if deployed else str
    errors = {rename(field): messages for field, messages in errors.items()}
    if not errors and len(ticket_data["ticket_id"]) > TICKET_ID_MAX_LENGTH:
        errors = {rename("ticket_id"): [f"Ensure this field has no more than {TICKET_ID_MAX_LENGTH} characters."]}
    return errors, "" if errors else ticket_data["ticket_id"]


@transaction.atomic
def dead_letter_reprocess(
    *, dead_letter_id: int, actor: TokenUser | None, ticket: Any = None, note: str = ""
) -> DeadLetter:
    """Republish the letter's ticket — or ``ticket``, a corrected one — to ``TICKET_TASKS_PRODUCTION`` and mark the
    letter reprocessed (its IntegrationError resolved).

    The ticket is validated first (400 with its field errors: a ticket that would only be dead-lettered again is
    refused) and, when HDTS signing is on, signed with our secret: the admin, authenticated and audited, vouches
    for it as for ``POST /tasks/``. It leaves through the outbox with the letter's change (ingestion is idempotent by
    ticket_id).
    """
    letter = _lock_pending(dead_letter_id)
    corrected = ticket is not None
    ticket_data = ticket if corrected else letter.kwargs.get("ticket_data")
    # A ticket of the deployed HDTS is checked as intake checks it (mapped) and republished as it is.
    errors, ticket_id = _ticket_errors(ticket_data)
    if errors and corrected:
        raise Invalid({"ticket": errors})
    if errors:
        raise Invalid(
            {
                "ticket": [
                    "The dead-lettered ticket is invalid; send a corrected ticket.",
                    *(f"{field}: {message}" for field, messages in errors.items() for message in messages),
                ]
            }
        )
    kwargs: dict[str, Any] = {"ticket_data": ticket_data}
    if settings.HDTS_SIGNING_SECRET:
        signed_at = int(time.time())
        kwargs.update(signature=signing.sign(settings.HDTS_SIGNING_SECRET, signed_at, ticket_data), signed_at=signed_at)
    _resolve(
        letter,
        DeadLetter.Status.REPROCESSED,
        actor=actor,
        note=note,
        now=timezone.now(),
        corrected=corrected,
        republished_ticket_id=ticket_id,
    )
    outbox.publish_one(contracts.RECEIVE_TICKET, **kwargs)
    return letter


@transaction.atomic
def dead_letter_discard(*, dead_letter_id: int, actor: TokenUser | None, note: str = "") -> DeadLetter:
    """Give the letter up for good (its IntegrationError resolved): nothing is republished."""
    letter = _lock_pending(dead_letter_id)
    _resolve(letter, DeadLetter.Status.DISCARDED, actor=actor, note=note, now=timezone.now())
    return letter


@transaction.atomic
def integration_error_set_status(*, error_id: int, status: str, actor: TokenUser | None) -> IntegrationError:
    """An admin's triage of an integration error (e.g. ``retrying`` once the sender was asked to resend)."""
    error = IntegrationError.objects.select_for_update().filter(pk=error_id).first()
    if error is None:
        raise NotFound("Integration error not found.")
    previous = error.status
    error.status = IntegrationError.Status(status)
    error.save(update_fields=["status", "updated_at"])
    record_events(
        [
            audit_event(
                "integration_error.status_changed",
                entity_type="integration_error",
                entity_id=str(error.pk),
                actor_id=actor.id if actor is not None else None,
                actor_username=actor.username if actor is not None else "",
                ticket_id=error.ticket_id,
                data={"from": previous, "to": error.status},
            )
        ]
    )
    return error
