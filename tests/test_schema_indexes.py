"""Every index of the project's tables is one something reads: the migrated schema holds no pattern index
(``varchar_pattern_ops``, which the backend no longer builds and the migrations dropped) and no index whose columns
lead another index of its table (the other serves its reads; each insert would write both). Django's own tables
and the many-to-many tables Django makes are not the project's to shape."""
from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection

pytestmark = pytest.mark.django_db

PROJECT_APPS = (
    "auth_service",
    "messaging_service",
    "notification_service",
    "ticket_service",
    "tts_common",
    "workflow_api",
)

# Every index of the given tables: its columns as "1 3" (pg_index.indkey), its definition, whether it is unique and
# whether it is plain (a btree on columns alone, not partial).
_INDEXES = """
SELECT t.relname, c.relname, i.indkey::text, pg_get_indexdef(i.indexrelid), i.indisunique,
       i.indpred IS NULL AND i.indexprs IS NULL AND am.amname = 'btree'
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_am am ON am.oid = c.relam
WHERE t.relname = ANY(%s)
"""


def _project_tables() -> list[str]:
    return [
        model._meta.db_table
        for app in PROJECT_APPS
        for model in apps.get_app_config(app).get_models(include_auto_created=False)
    ]


def _indexes() -> list[tuple[str, str, str, str, bool, bool]]:
    with connection.cursor() as cursor:
        cursor.execute(_INDEXES, [_project_tables()])
        return cursor.fetchall()


def test_no_pattern_index() -> None:
    pattern = [name for _, name, _, definition, _, _ in _indexes() if "_pattern_ops" in definition]
    assert pattern == []


def test_no_index_another_of_its_table_starts_with() -> None:
    plain = [(table, name, columns, unique) for table, name, columns, _, unique, is_plain in _indexes() if is_plain]
    redundant = [
        f"{name} ({table}): {other}"
        for table, name, columns, unique in plain
        if not unique
        for other_table, other, other_columns, _ in plain
        if other_table == table
        and other != name
        and f"{other_columns} ".startswith(f"{columns} ")
        and (other_columns != columns or other < name)
    ]
    assert redundant == []


def test_the_projects_tables_are_all_checked() -> None:
    """The two checks above see the tables of every app (a renamed app would leave them checking nothing)."""
    tables = {table for table, *_ in _indexes()}
    assert {"workflow_api_task", "notification_service_inappnotification", "auth_service_user"} <= tables
