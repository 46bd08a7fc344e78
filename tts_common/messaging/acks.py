"""Settling a channel's deliveries in bulk (for the batch queues, :mod:`tts_common.messaging.batch_queues`): apart
from the consumers and the bootstep that both use it, so that neither imports the other."""
from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import amqp

logger = logging.getLogger(__name__)


class AckLedger:
    """Settles the deliveries of one channel, all of which it is told about (:meth:`delivered`)."""

    def __init__(self, channel: Any, connection_errors: tuple[type[BaseException], ...]) -> None:
        self.channel = channel
        # kombu's in-process transports (the embedded profile's filesystem broker) ignore ``multiple``.
        self._multiple = isinstance(channel, amqp.Channel)
        self._errors = connection_errors
        self._unsettled: set[int] = set()

    def delivered(self, tag: int) -> None:
        self._unsettled.add(tag)

    def settle(self, ack: Iterable[int] = (), requeue: Iterable[int] = (), drop: Iterable[int] = ()) -> None:
        """Ack, requeue or drop (reject) these deliveries. One ``basic_ack(multiple=True)`` covers the acks below
        every unsettled delivery (it acks all of the channel's unacked deliveries up to its tag); the rest, above a
        delivery still in a batch or waiting for its ETA, are acked one by one."""
        ack, requeue, drop = list(ack), list(requeue), list(drop)
        self._unsettled.difference_update(ack, requeue, drop)
        try:
            for tag in requeue:
                self.channel.basic_reject(tag, requeue=True)
            for tag in drop:
                self.channel.basic_reject(tag, requeue=False)
            if self._multiple and ack:
                lowest_unsettled = min(self._unsettled, default=None)
                below = [tag for tag in ack if lowest_unsettled is None or tag < lowest_unsettled]
                if below:
                    self.channel.basic_ack(max(below), multiple=True)
                    ack = [tag for tag in ack if lowest_unsettled is not None and tag > lowest_unsettled]
            for tag in ack:
                self.channel.basic_ack(tag)
        except self._errors:  # the channel or connection is gone: the broker redelivers these messages
            logger.warning("could not settle messages: the broker channel is closed", exc_info=True)
