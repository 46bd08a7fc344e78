"""The task list's search reads a stored document (issue 17): at 1,000,000 tasks, the expression index of 0013
answered a common term newest first by parsing every match's text again (tens of thousands of rows) and sorting
them; a stored tsvector lets the list walk task_created newest first and check each row's document until the page
is full, and the GIN index on it serves rare terms.

Without a long lock on a large table: the column is added nullable (no rewrite); a trigger keeps it from then on
(PostgreSQL's own tsvector_update_trigger, ENABLE ALWAYS so that replica-mode sessions — generate_history's COPY —
fire it too); existing rows are filled in batches of BACKFILL_BATCH, each its own transaction; the new index is built
and the old one dropped concurrently (hence atomic = False)."""
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.contrib.postgres.search import SearchVectorField
from django.db import migrations

TABLE = "workflow_api_task"
BACKFILL_BATCH = 5_000

KEEP_DOCUMENT = f"""
CREATE TRIGGER task_search_document
    BEFORE INSERT OR UPDATE OF external_ticket_id, title, description ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION
    tsvector_update_trigger(search_document, 'pg_catalog.english', external_ticket_id, title, description);
ALTER TABLE {TABLE} ENABLE ALWAYS TRIGGER task_search_document;
"""

# One batch: the next BACKFILL_BATCH tasks by primary key after the last batch's. Naming a column of the trigger's
# in SET fires it, so the document is computed as on every insert (one definition).
BACKFILL = f"""
WITH batch AS (SELECT task_id FROM {TABLE} WHERE task_id > %s ORDER BY task_id LIMIT {BACKFILL_BATCH}),
filled AS (
    UPDATE {TABLE} AS task SET external_ticket_id = task.external_ticket_id
    FROM batch WHERE task.task_id = batch.task_id AND task.search_document IS NULL
)
SELECT (SELECT task_id FROM batch ORDER BY task_id DESC LIMIT 1)  -- NULL after the last batch
"""


def backfill(apps, schema_editor) -> None:
    last = "00000000-0000-0000-0000-000000000000"
    with schema_editor.connection.cursor() as cursor:
        while last is not None:  # autocommit (atomic = False): each batch commits, holding its rows' locks briefly
            cursor.execute(BACKFILL, [last])
            (last,) = cursor.fetchone()
        cursor.execute(f"ANALYZE {TABLE}")  # the planner's statistics of the new column (its common words)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("workflow_api", "0017_assignment_task_created_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="task",
            name="search_document",
            field=SearchVectorField(editable=False, null=True),
        ),
        migrations.RunSQL(KEEP_DOCUMENT, reverse_sql=f"DROP TRIGGER task_search_document ON {TABLE}"),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        AddIndexConcurrently(
            model_name="task",
            index=GinIndex(fields=["search_document"], name="task_search_document"),
        ),
        RemoveIndexConcurrently(model_name="task", name="task_search"),
    ]

