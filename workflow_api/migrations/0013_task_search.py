"""The task list's search (``?q=``): a GIN index on the full-text document of ticket id, title and description.
Full-text search is built into PostgreSQL (pg_trgm is an extension the embedded pgserver does not ship). Built
without locking the table: CREATE INDEX CONCURRENTLY cannot run in a transaction (hence atomic = False)."""
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.operations import AddIndexConcurrently
from django.contrib.postgres.search import SearchVector
from django.db import migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("workflow_api", "0012_dead_letter_notices"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="task",
            index=GinIndex(
                SearchVector("external_ticket_id", "title", "description", config="english"), name="task_search"
            ),
        ),
    ]
