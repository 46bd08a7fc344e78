"""HDTS as a producer of tickets: a stock Celery app with default settings (DESIGN §2)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from tests.conftest import outside_celery_app
from tts_common import contracts


@pytest.fixture
def hdts() -> Callable[[Iterable[dict[str, Any]]], None]:
    """Publish ticket message kwargs as HDTS does: ``hdts([{"ticket_data": ...}, ...])``."""
    app = outside_celery_app()

    def send(messages: Iterable[dict[str, Any]]) -> None:
        with app.producer_or_acquire() as producer:
            for kwargs in messages:
                app.send_task(
                    contracts.RECEIVE_TICKET.task,
                    kwargs=kwargs,
                    queue=contracts.RECEIVE_TICKET.queue,
                    producer=producer,
                )

    return send
