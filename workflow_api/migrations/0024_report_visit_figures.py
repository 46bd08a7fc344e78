"""The step visits' report figures (issue 16): when the assignment a visit's action ended began (acted_assigned_at)
and the task's priority, filled here for the closed visits as close_active_step sets them; the seconds spent and the
share of the due time used (generated columns); the visits' covering indexes with those instead of the columns they
come from; the days by user's index by step (a role's figures by agent). The assignments' ended_at index, which only
the agents report read, goes. Order: the covering indexes go first (the fill updates fewer indexes), the fill before
the generated columns (adding one rewrites the table, leaving the fill's dead row versions behind); no transaction
(atomic = False) so that only the two rewrites lock the visits out (~6 s each at 1,000,000 tasks), the indexes built
CONCURRENTLY. At 1,000,000 tasks (1.7M visits) ~55 s in all, the fill ~25 s. A visit the old code closes after the
fill lacks its two copied values until FILL_CLOSED_VISITS runs again (it may: it sets what it sets, idempotently):
migrate with the workers and the API stopped, or run it once the new code serves."""
import django.db.models.expressions
import django.db.models.functions.comparison
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

# Every closed visit: its task's priority; the actor's assignment ended with it, the latest if several.
FILL_CLOSED_VISITS = """
UPDATE workflow_api_stepinstance s SET priority = v.priority, acted_assigned_at = v.started
FROM (
    SELECT c.id, t.priority, a.started
    FROM workflow_api_stepinstance c JOIN workflow_api_task t ON t.task_id = c.task_id
    LEFT JOIN (SELECT step_instance_id, user_id, ended_at, max(assigned_at) AS started FROM workflow_api_assignment
               WHERE ended_at IS NOT NULL GROUP BY 1, 2, 3) a
           ON a.step_instance_id = c.id AND a.user_id = c.acted_by_id AND a.ended_at = c.ended_at
    WHERE c.ended_at IS NOT NULL
) v
WHERE v.id = s.id
"""


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("workflow_api", "0023_report_day_half_hours"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='assignment',
            name='assignment_ended',
        ),
        migrations.RemoveIndex(
            model_name='stepinstance',
            name='step_instance_ended_visit',
        ),
        migrations.RemoveIndex(
            model_name='stepinstance',
            name='step_instance_step_ended',
        ),
        migrations.AddField(
            model_name='stepinstance',
            name='acted_assigned_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='stepinstance',
            name='priority',
            field=models.CharField(blank=True, choices=[('low', 'Low'), ('medium', 'Medium'), ('high', 'High'), ('urgent', 'Urgent')], max_length=16, null=True),
        ),
        migrations.RunSQL(FILL_CLOSED_VISITS, migrations.RunSQL.noop),
        migrations.AddField(
            model_name='stepinstance',
            name='due_used',
            field=models.GeneratedField(db_persist=True, expression=django.db.models.expressions.CombinedExpression(models.Func(models.Value('epoch'), django.db.models.expressions.CombinedExpression(models.F('ended_at'), '-', models.F('started_at')), function='date_part', output_field=models.FloatField()), '/', django.db.models.functions.comparison.NullIf(models.Func(models.Value('epoch'), django.db.models.expressions.CombinedExpression(models.F('due_at'), '-', models.F('started_at')), function='date_part', output_field=models.FloatField()), models.Value(0.0))), output_field=models.FloatField()),
        ),
        migrations.AddField(
            model_name='stepinstance',
            name='seconds_spent',
            field=models.GeneratedField(db_persist=True, expression=models.Func(models.Value('epoch'), django.db.models.expressions.CombinedExpression(models.F('ended_at'), '-', models.F('started_at')), function='date_part', output_field=models.FloatField()), output_field=models.FloatField()),
        ),
        AddIndexConcurrently(
            model_name='reportuserday',
            index=models.Index(fields=['step_id', 'kind', 'day'], include=('user_id', 'workflow_id', 'priority', 'count', 'total'), name='report_user_day_step'),
        ),
        AddIndexConcurrently(
            model_name='stepinstance',
            index=models.Index(condition=models.Q(('ended_at__isnull', False)), fields=['ended_at'], include=('step_id', 'acted_by_id', 'acted_assigned_at', 'priority', 'seconds_spent', 'due_used'), name='step_instance_ended_visit'),
        ),
        AddIndexConcurrently(
            model_name='stepinstance',
            index=models.Index(condition=models.Q(('ended_at__isnull', False)), fields=['step_id', 'ended_at'], include=('acted_by_id', 'acted_assigned_at', 'priority', 'seconds_spent', 'due_used'), name='step_instance_step_ended'),
        ),
    ]
