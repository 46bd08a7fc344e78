"""Migration operations for the project's PostgreSQL schema."""
from __future__ import annotations

from django.db import migrations


def drop_index_concurrently(name: str, *, rebuild_on: str = "") -> migrations.RunSQL:
    """Drops index ``name`` without the lock that would stop a live table's reads and writes meanwhile (run it in a
    migration with ``atomic = False``). Reversed, the index is built again, as concurrently, ``ON`` ``rebuild_on``
    (``"table (column)"``); with none, it is not: a pattern index (``varchar_pattern_ops``), which the backend no
    longer builds (tts_common.postgresql.base.DatabaseSchemaEditor)."""
    reverse = (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {rebuild_on}" if rebuild_on else migrations.RunSQL.noop
    )
    return migrations.RunSQL(f"DROP INDEX CONCURRENTLY IF EXISTS {name}", reverse)
