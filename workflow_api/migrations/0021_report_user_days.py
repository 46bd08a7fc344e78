"""Report rollups per UTC day and user (ReportUserDay), filled from the 15-minute buckets while folds wait (they
lock the buckets they add to)."""
from django.db import migrations, models

FILL_USER_DAYS = """
LOCK TABLE workflow_api_reportbucket IN SHARE MODE;
INSERT INTO workflow_api_reportuserday (day, kind, workflow_id, step_id, user_id, priority, count, total)
SELECT (bucket AT TIME ZONE 'UTC')::date, kind, workflow_id, step_id, user_id, priority, sum(count), sum(total)
FROM workflow_api_reportbucket GROUP BY 1, 2, 3, 4, 5, 6;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('workflow_api', '0020_task_ids_time_ordered'),
    ]

    operations = [
        migrations.CreateModel(
            name='ReportUserDay',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('created', 'Created'), ('assigned', 'Assigned'), ('transferred', 'Transferred'), ('escalated', 'Escalated'), ('reassigned_away', 'Reassigned Away'), ('acted', 'Acted'), ('completed', 'Completed'), ('rejected', 'Rejected'), ('cancelled', 'Cancelled'), ('within_sla', 'Within Sla'), ('breached', 'Breached'), ('warned', 'Warned'), ('rated', 'Rated')], max_length=16)),
                ('workflow_id', models.BigIntegerField()),
                ('step_id', models.BigIntegerField(null=True)),
                ('priority', models.CharField(max_length=16)),
                ('count', models.BigIntegerField(default=0)),
                ('total', models.BigIntegerField(default=0)),
                ('day', models.DateField()),
                ('user_id', models.BigIntegerField(null=True)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('kind', 'day', 'user_id', 'workflow_id', 'step_id', 'priority'), include=('count', 'total'), name='report_user_day_key', nulls_distinct=False)],
            },
        ),
        migrations.RunSQL(FILL_USER_DAYS, migrations.RunSQL.noop),
    ]
