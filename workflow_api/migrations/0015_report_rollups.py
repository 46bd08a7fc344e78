"""Report rollups: an append-only delta table and its 15-minute buckets; the step-visit index the step-time medians
read, built CONCURRENTLY (so no transaction: atomic = False) as 0009's were."""
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('workflow_api', '0014_saved_task_views'),
    ]

    operations = [
        migrations.CreateModel(
            name='ReportBucket',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('bucket', models.DateTimeField()),
                ('kind', models.CharField(choices=[('created', 'Created'), ('assigned', 'Assigned'), ('transferred', 'Transferred'), ('escalated', 'Escalated'), ('reassigned_away', 'Reassigned Away'), ('acted', 'Acted'), ('completed', 'Completed'), ('rejected', 'Rejected'), ('cancelled', 'Cancelled'), ('within_sla', 'Within Sla'), ('breached', 'Breached'), ('warned', 'Warned'), ('rated', 'Rated')], max_length=16)),
                ('workflow_id', models.BigIntegerField()),
                ('step_id', models.BigIntegerField(null=True)),
                ('user_id', models.BigIntegerField(null=True)),
                ('priority', models.CharField(max_length=16)),
                ('count', models.BigIntegerField(default=0)),
                ('total', models.BigIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name='ReportDelta',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('occurred_at', models.DateTimeField()),
                ('kind', models.CharField(choices=[('created', 'Created'), ('assigned', 'Assigned'), ('transferred', 'Transferred'), ('escalated', 'Escalated'), ('reassigned_away', 'Reassigned Away'), ('acted', 'Acted'), ('completed', 'Completed'), ('rejected', 'Rejected'), ('cancelled', 'Cancelled'), ('within_sla', 'Within Sla'), ('breached', 'Breached'), ('warned', 'Warned'), ('rated', 'Rated')], max_length=16)),
                ('workflow_id', models.BigIntegerField()),
                ('step_id', models.BigIntegerField(null=True)),
                ('user_id', models.BigIntegerField(null=True)),
                ('priority', models.CharField(max_length=16)),
                ('count', models.IntegerField(default=1)),
                ('total', models.IntegerField(default=0)),
            ],
        ),
        AddIndexConcurrently(
            model_name='stepinstance',
            index=models.Index(condition=models.Q(('ended_at__isnull', False)), fields=['ended_at'], name='step_instance_ended'),
        ),
        migrations.AddConstraint(
            model_name='reportbucket',
            constraint=models.UniqueConstraint(fields=('bucket', 'kind', 'workflow_id', 'step_id', 'user_id', 'priority'), name='report_bucket_key', nulls_distinct=False),
        ),
    ]
