"""How a batch consumer's messages travel from the worker's parent process to a pool process.

The parent only buffers a message and settles it (ack or requeue) when its batch returns: it keeps the message
undecoded, as Celery itself does for protocol-2 task messages, and sends the pool process just the body and headers
(:class:`WireMessage`). celery-batches builds a full Celery ``Request`` per message and decodes its JSON in the
parent, which is what capped ticket intake (see bench/README.md). The pool process decodes each message into a
celery-batches ``SimpleRequest``; one it cannot decode is marked instead, so the consumer dead-letters it with the
reason rather than Celery dropping it.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

from celery.utils.time import maybe_iso8601
from celery.worker.strategy import proto1_to_proto2  # type: ignore[attr-defined]  # absent from celery-types
from celery_batches import SimpleRequest
from celery_batches.trace import apply_batches_task
from kombu.message import Message
from kombu.serialization import loads, prepare_accept_content

from tts_common.base import json_input
from tts_common.messaging.acks import AckLedger

# The longest stretch of an undecodable body kept in its dead letter.
UNDECODABLE_BODY_CHARS = 2000


class WireMessage(NamedTuple):
    """What a pool process gets of one message: the body still encoded (a protocol-1 message arrives decoded), and
    why the worker refused it, if it did."""

    body: bytes | tuple[Any, Any, Any]
    content_type: str | None
    content_encoding: str | None
    headers: dict[str, Any]
    routing_key: str | None
    refused: str | None


class BufferedMessage:
    """A message in a batch consumer's buffer in the worker's parent: its delivery tag and the ledger that settles
    it, and what celery-batches' flush timer reads (``eta``, ``utc``, ``reject``, ``info``)."""

    __slots__ = ("wire", "eta", "tag", "ledger")
    utc = True

    def __init__(
        self, message: Message, payload: dict[str, Any] | None, ledger: AckLedger, refused: str | None = None
    ) -> None:
        headers: dict[str, Any] = message.headers or {}
        body: bytes | tuple[Any, Any, Any] = cast(bytes, message.body)  # kombu-stubs say str; transports give bytes
        if payload is not None:  # protocol 1: decoded by the worker to find the task's name
            body, headers, _, _ = proto1_to_proto2(message, payload)
        self.wire = WireMessage(
            body, message.content_type, message.content_encoding, headers,
            message.delivery_info.get("routing_key"), refused,
        )  # fmt: skip
        self.eta = eta_of(headers)
        self.tag = cast(int, message.delivery_tag)  # an AMQP delivery tag; kombu-stubs say str
        self.ledger = ledger

    @property
    def id(self) -> str | None:
        return self.wire.headers.get("id")

    def info(self, safe: bool = False) -> dict[str, Any]:
        """What celery-batches logs of a message whose ETA it cannot convert."""
        return {"id": self.id, "eta": self.wire.headers.get("eta")}

    def reject(self, requeue: bool = False) -> None:
        if requeue:
            self.ledger.settle(requeue=[self.tag])
        else:
            self.ledger.settle(drop=[self.tag])


def eta_of(headers: dict[str, Any]) -> datetime | None:
    """When a delayed message (a retry) is due: its ``eta`` header, naive meaning UTC; one that cannot be read is due
    now (the message is then consumed, not dropped as Celery's own consumer drops it)."""
    try:
        eta = maybe_iso8601(headers.get("eta"))
    except (TypeError, ValueError):
        return None
    return eta.replace(tzinfo=UTC) if eta is not None and eta.tzinfo is None else eta


class BatchRequest(SimpleRequest):  # type: ignore[misc]  # celery-batches is untyped
    """A decoded message as the consumer's ``run`` sees it; ``undecodable`` says why one could not be decoded."""

    undecodable: str | None = None


def decode(wire: WireMessage, task_name: str, accept: set[str] | None) -> BatchRequest:
    """In the pool process: the message's request, or one marked undecodable (kwargs keep what the body held)."""
    headers = wire.headers
    undecodable = wire.refused
    try:
        body = (
            wire.body if isinstance(wire.body, tuple)
            # A missing content type or encoding read as kombu itself reads it.
            else loads(wire.body, wire.content_type or "application/data", wire.content_encoding or "utf-8", accept=accept)
        )  # fmt: skip
        json_input.check_decoded(body)  # what the consumer, the database or a dead letter could not take
        args, kwargs, _ = body
        if not isinstance(kwargs, dict):
            raise TypeError("the task's kwargs are not an object")
    except Exception as exc:
        args, undecodable = (), undecodable or f"validation: undecodable message ({type(exc).__name__}: {exc})"
        raw = wire.body if isinstance(wire.body, bytes) else repr(wire.body).encode()
        kwargs = {"body": raw[:UNDECODABLE_BODY_CHARS].decode("utf-8", "replace")}
    request = BatchRequest(
        id=headers.get("id"),
        name=task_name,
        args=args,
        kwargs=kwargs,
        delivery_info={"routing_key": wire.routing_key},
        hostname=None,
        ignore_result=True,
        reply_to=None,
        correlation_id=headers.get("id"),
        request_dict=headers,
    )
    request.undecodable = undecodable
    return request


def run_batch(task: Any, wires: list[WireMessage]) -> Any:
    """In the pool process: decode the batch, then run the task on it as celery-batches does (signals, request
    stack, errors logged)."""
    accept = prepare_accept_content(task.app.conf.accept_content)
    return apply_batches_task(task, ([decode(wire, task.name, accept) for wire in wires],), 0, None)
