"""Indexes for the task list's orderings and visibility, built without locking the tables: CREATE INDEX
CONCURRENTLY lets writes go on while it runs, and cannot run in a transaction (hence atomic = False)."""
from django.db import migrations, models

from tts_common.database import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("workflow_api", "0006_sla_calendars"),
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
    ]
