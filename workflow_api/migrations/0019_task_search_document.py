"""The search document stored (issue 17): a generated column, computed by PostgreSQL in the statement that writes
the row (no trigger), with its GIN index in place of the expression index of 0013.

Adding a stored generated column rewrites the table under an exclusive lock (PostgreSQL computes every row's
document); the index is then built and the old one dropped without blocking writes."""
import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("workflow_api", "0018_report_days_covering_visits"),
    ]

    operations = [
        migrations.AddField(
            model_name="task",
            name="search_document",
            field=models.GeneratedField(
                db_persist=True,
                expression=django.contrib.postgres.search.SearchVector(
                    "external_ticket_id", "title", "description", config="english"
                ),
                output_field=django.contrib.postgres.search.SearchVectorField(),
            ),
        ),
        AddIndexConcurrently(
            model_name="task",
            index=django.contrib.postgres.indexes.GinIndex(fields=["search_document"], name="task_search_document"),
        ),
        RemoveIndexConcurrently(model_name="task", name="task_search"),
    ]
