"""What every service's use of the database shares: index builds that do not lock a live table, and the time limit
of a web request's statements."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.postgres import operations as postgres
from django.db.backends.signals import connection_created
from django.db.migrations.operations import AddIndex


class AddIndexConcurrently(postgres.AddIndexConcurrently):
    """``CREATE INDEX CONCURRENTLY`` on PostgreSQL: writes go on while the index is built (a plain CREATE INDEX
    blocks them for the whole build). Elsewhere (the embedded SQLite default, which has no such build) a plain one.
    Its migration must say ``atomic = False``: a concurrent build cannot run in a transaction."""

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


def _set_statement_timeout(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = %s", [settings.DB_STATEMENT_TIMEOUT_MS])


def limit_statement_time() -> None:
    """From now on, this process's database connections cancel a statement that runs past
    ``DB_STATEMENT_TIMEOUT_MS`` (0: never); the API answers it with a 503 (tts_common.api). For web processes only:
    a request must not hang on a slow query, while a worker's batch work may take what it takes."""
    if settings.DB_STATEMENT_TIMEOUT_MS:
        connection_created.connect(_set_statement_timeout, dispatch_uid="tts_common.database.statement_timeout")
