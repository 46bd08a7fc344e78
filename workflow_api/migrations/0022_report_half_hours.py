"""Report rollups per half hour without the user (ReportHalfHour: a local day outside UTC is cut from whole half
hours), filled from the 15-minute buckets while folds wait; the step visits' index by step and end (the steps
report's medians), built CONCURRENTLY (so no transaction: atomic = False; the fill takes its own)."""
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

FILL_HOURS = """
BEGIN;
LOCK TABLE workflow_api_reportbucket IN SHARE MODE;
INSERT INTO workflow_api_reporthalfhour (half_hour, kind, workflow_id, step_id, priority, count, total)
SELECT date_bin('30 minutes', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'), kind, workflow_id, step_id, priority, sum(count), sum(total)
FROM workflow_api_reportbucket GROUP BY 1, 2, 3, 4, 5;
COMMIT;
"""


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('workflow_api', '0021_report_user_days'),
    ]

    operations = [
        migrations.CreateModel(
            name='ReportHalfHour',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('created', 'Created'), ('assigned', 'Assigned'), ('transferred', 'Transferred'), ('escalated', 'Escalated'), ('reassigned_away', 'Reassigned Away'), ('acted', 'Acted'), ('completed', 'Completed'), ('rejected', 'Rejected'), ('cancelled', 'Cancelled'), ('within_sla', 'Within Sla'), ('breached', 'Breached'), ('warned', 'Warned'), ('rated', 'Rated')], max_length=16)),
                ('workflow_id', models.BigIntegerField()),
                ('step_id', models.BigIntegerField(null=True)),
                ('priority', models.CharField(max_length=16)),
                ('count', models.BigIntegerField(default=0)),
                ('total', models.BigIntegerField(default=0)),
                ('half_hour', models.DateTimeField()),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('kind', 'half_hour', 'workflow_id', 'step_id', 'priority'), include=('count', 'total'), name='report_half_hour_key', nulls_distinct=False)],
            },
        ),
        migrations.RunSQL(FILL_HOURS, migrations.RunSQL.noop),
        AddIndexConcurrently(
            model_name='stepinstance',
            index=models.Index(condition=models.Q(('ended_at__isnull', False)), fields=['step_id', 'ended_at'], include=('started_at', 'due_at', 'acted_by_id', 'task_id'), name='step_instance_step_ended'),
        ),
    ]
