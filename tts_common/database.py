"""The time limit of a web request's statements, shared by every service's use of the database."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.backends.signals import connection_created


def _set_statement_timeout(sender: Any, connection: Any, **kwargs: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = %s", [settings.DB_STATEMENT_TIMEOUT_MS])


def limit_statement_time() -> None:
    """From now on, this process's database connections cancel a statement that runs past
    ``DB_STATEMENT_TIMEOUT_MS`` (0: never); the API answers it with a 503 (tts_common.api). For web processes only:
    a request must not hang on a slow query, while a worker's batch work may take what it takes."""
    if settings.DB_STATEMENT_TIMEOUT_MS:
        connection_created.connect(_set_statement_timeout, dispatch_uid="tts_common.database.statement_timeout")
