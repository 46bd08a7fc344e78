"""Indexes for the task list's orderings and visibility, built without locking the tables: CREATE INDEX
CONCURRENTLY lets writes go on while it runs, and cannot run in a transaction (hence atomic = False)."""
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("workflow_api", "0008_hdts_status_and_csat"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="assignment",
            index=models.Index(fields=["user", "task"], name="assignment_user_task"),
        ),
        AddIndexConcurrently(
            model_name="task",
            index=models.Index(fields=["created_at", "task_id"], name="task_created"),
        ),
        AddIndexConcurrently(
            model_name="task",
            index=models.Index(fields=["sla_deadline", "task_id"], name="task_deadline"),
        ),
        AddIndexConcurrently(
            model_name="task",
            index=models.Index(
                models.Case(
                    models.When(priority="low", then=models.Value(0)),
                    models.When(priority="medium", then=models.Value(1)),
                    models.When(priority="high", then=models.Value(2)),
                    models.When(priority="urgent", then=models.Value(3)),
                    default=models.Value(4),
                    output_field=models.IntegerField(),
                ),
                models.F("task_id"),
                name="task_priority",
            ),
        ),
    ]
