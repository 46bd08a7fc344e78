"""The task's created_at copied onto its assignment rows (the task list's ordering key, so a user's list is an ordered
index scan with a LIMIT: selectors.tasks), and the two indexes the list merges.

Safe on a live database of millions of rows, so no transaction (atomic = False) and no long lock: the column is
added NULL (no rewrite), filled in batches of BATCH rows by id (each UPDATE its own short transaction), then a last
pass catches rows written meanwhile by code that did not yet fill it; NOT NULL is set through a CHECK added NOT VALID
and validated (validation takes no lock that blocks writes; SET NOT NULL then trusts it instead of scanning under an
exclusive lock); the indexes are built CONCURRENTLY."""
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models

BATCH = 20_000


def copy_task_created_at(apps, schema_editor) -> None:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM workflow_api_assignment")
        (last,) = cursor.fetchone()
        for start in range(0, last, BATCH):
            cursor.execute(
                """UPDATE workflow_api_assignment a SET task_created_at = t.created_at FROM workflow_api_task t
                WHERE t.task_id = a.task_id AND a.id > %s AND a.id <= %s AND a.task_created_at IS NULL""",
                [start, start + BATCH],
            )
        cursor.execute(
            """UPDATE workflow_api_assignment a SET task_created_at = t.created_at FROM workflow_api_task t
            WHERE t.task_id = a.task_id AND a.task_created_at IS NULL"""
        )


NOT_NULL_SQL = """
ALTER TABLE workflow_api_assignment ADD CONSTRAINT assignment_task_created_at_set
    CHECK (task_created_at IS NOT NULL) NOT VALID;
ALTER TABLE workflow_api_assignment VALIDATE CONSTRAINT assignment_task_created_at_set;
ALTER TABLE workflow_api_assignment ALTER COLUMN task_created_at SET NOT NULL;
ALTER TABLE workflow_api_assignment DROP CONSTRAINT assignment_task_created_at_set;
"""


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('workflow_api', '0016_task_day_filter_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='assignment',
            name='task_created_at',
            field=models.DateTimeField(null=True),
        ),
        migrations.RunPython(copy_task_created_at, migrations.RunPython.noop),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    NOT_NULL_SQL,
                    "ALTER TABLE workflow_api_assignment ALTER COLUMN task_created_at DROP NOT NULL;",
                )
            ],
            state_operations=[
                migrations.AlterField(
                    model_name='assignment',
                    name='task_created_at',
                    field=models.DateTimeField(),
                )
            ],
        ),
        AddIndexConcurrently(
            model_name='assignment',
            index=models.Index(fields=['user', 'task_created_at', 'task'], name='assignment_user_created'),
        ),
        RemoveIndexConcurrently(
            model_name='assignment',
            name='assignment_user_task',
        ),
        AddIndexConcurrently(
            model_name='task',
            index=models.Index(fields=['owner', 'created_at', 'task_id'], name='task_owner_created'),
        ),
    ]
