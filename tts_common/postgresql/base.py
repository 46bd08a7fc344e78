"""Django's PostgreSQL backend, retrying a connection the database refuses (``ENGINE = "tts_common.postgresql"``).

A restart or failover refuses connections for a moment: a new connection is tried 3 more times, 0.1, 0.25 and 0.5 s
apart, and the attempts stop once a second has passed, so that a request waits at most about a second before the
API answers 503 with Retry-After (tts_common.http.api). Written against Django's exception classes, not a driver's: it
holds for any driver (and pool) Django's backend uses.
"""
from __future__ import annotations

import time

from django.db import OperationalError
from django.db.backends.postgresql import base

CONNECT_RETRY_PAUSES_SECONDS = (0.1, 0.25, 0.5)
CONNECT_BUDGET_SECONDS = 1.0


class DatabaseWrapper(base.DatabaseWrapper):
    def ensure_connection(self) -> None:
        started = time.monotonic()
        for pause in CONNECT_RETRY_PAUSES_SECONDS:
            try:
                return super().ensure_connection()
            except OperationalError:
                if time.monotonic() - started + pause > CONNECT_BUDGET_SECONDS:
                    raise
                time.sleep(pause)
        return super().ensure_connection()
