"""The task list's day filters (a report's drill-down: tasks closed or breached on given days) read through these,
built CONCURRENTLY (so no transaction: atomic = False) as 0009's were; created_at has its index (task_created)."""
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('workflow_api', '0015_report_rollups'),
    ]

    operations = [
        AddIndexConcurrently(
            model_name='task',
            index=models.Index(condition=models.Q(('completed_at__isnull', False)), fields=['completed_at'], name='task_closed'),
        ),
        AddIndexConcurrently(
            model_name='task',
            index=models.Index(condition=models.Q(('sla_breached_at__isnull', False)), fields=['sla_breached_at'], name='task_breached'),
        ),
    ]
