"""Report rollups per UTC day without the user (ReportDay), filled from the 15-minute buckets while folds wait; the
step visits' end index made covering and one on assignments' end (the reports' medians read them only), and the
buckets' index by user: indexes
built CONCURRENTLY (so no transaction: atomic = False; the fill takes its own)."""
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models

FILL_DAYS = """
BEGIN;
LOCK TABLE workflow_api_reportbucket IN SHARE MODE;
INSERT INTO workflow_api_reportday (day, kind, workflow_id, step_id, priority, count, total)
SELECT (bucket AT TIME ZONE 'UTC')::date, kind, workflow_id, step_id, priority, sum(count), sum(total)
FROM workflow_api_reportbucket GROUP BY 1, 2, 3, 4, 5;
COMMIT;
"""


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('workflow_api', '0017_assignment_task_created_at'),
    ]

    operations = [
        migrations.CreateModel(
            name='ReportDay',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('kind', models.CharField(choices=[('created', 'Created'), ('assigned', 'Assigned'), ('transferred', 'Transferred'), ('escalated', 'Escalated'), ('reassigned_away', 'Reassigned Away'), ('acted', 'Acted'), ('completed', 'Completed'), ('rejected', 'Rejected'), ('cancelled', 'Cancelled'), ('within_sla', 'Within Sla'), ('breached', 'Breached'), ('warned', 'Warned'), ('rated', 'Rated')], max_length=16)),
                ('workflow_id', models.BigIntegerField()),
                ('step_id', models.BigIntegerField(null=True)),
                ('priority', models.CharField(max_length=16)),
                ('count', models.BigIntegerField(default=0)),
                ('total', models.BigIntegerField(default=0)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('kind', 'day', 'workflow_id', 'step_id', 'priority'), include=('count', 'total'), name='report_day_key', nulls_distinct=False)],
            },
        ),
        migrations.RunSQL(FILL_DAYS, migrations.RunSQL.noop),
        AddIndexConcurrently(
            model_name='stepinstance',
            index=models.Index(condition=models.Q(('ended_at__isnull', False)), fields=['ended_at'], include=('step_id', 'started_at', 'due_at', 'acted_by_id', 'task_id', 'id'), name='step_instance_ended_visit'),
        ),
        RemoveIndexConcurrently(model_name='stepinstance', name='step_instance_ended'),
        AddIndexConcurrently(
            model_name='assignment',
            index=models.Index(condition=models.Q(('ended_at__isnull', False)), fields=['ended_at'], include=('step_instance_id', 'user_id', 'assigned_at'), name='assignment_ended'),
        ),
        AddIndexConcurrently(
            model_name='reportbucket',
            index=models.Index(fields=['user_id', 'bucket'], name='report_bucket_user'),
        ),
    ]
