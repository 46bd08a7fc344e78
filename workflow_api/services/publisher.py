"""Publishing the engine's messages in batches, after commit: see :mod:`tts_common.publisher` (one socket write
and one publisher-confirm wait per batch)."""
from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from tts_common import publisher, unsent
from tts_common.logging import bound_correlation_id, correlation_id
from tts_common.publisher import Outgoing

__all__ = ["Outgoing", "publish_batch", "publish_batch_on_commit"]


def publish_batch(messages: Sequence[Outgoing]) -> None:
    """Publish now, returning once the broker has confirmed every message."""
    publisher.publish_batch(messages)


def publish_batch_on_commit(messages: Sequence[Outgoing]) -> None:
    """Publish once the current transaction commits (nothing on rollback): one callback for the whole batch. The
    messages carry the caller's correlation id, taken now (at commit time the context may be another's). If the
    broker still refuses them after the publisher's retries, they are parked for the resend job."""
    if messages:
        batch = list(messages)
        caller = correlation_id.get()

        def send() -> None:
            with bound_correlation_id(caller):
                try:
                    publish_batch(batch)
                except Exception as exc:
                    unsent.park(batch, caller, exc)

        transaction.on_commit(send, robust=True)
