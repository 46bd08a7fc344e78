"""The report days with running sums per half hour (ReportDayHalfHours: any run of whole half hours of a UTC day is one
row per key; whole days its index alone), replacing the half hours' and the days' rollups (ReportHalfHour,
ReportDay). Filled from the 15-minute buckets, ordered as reports read it (kind, day), under a SHARE lock on the
buckets (a fold waits), before its unique index is built. As services.reports writes it (a migration keeps its own
copy of the SQL)."""
import django.contrib.postgres.fields
from django.db import migrations, models

FILL = """
LOCK TABLE workflow_api_reportbucket IN SHARE MODE;
INSERT INTO workflow_api_reportdayhalfhours (day, kind, workflow_id, step_id, priority, count, total, counts, totals)
SELECT day, kind, workflow_id, step_id, priority, count, total,
       ARRAY(SELECT (sum(coalesce(u.v, 0)) OVER (ORDER BY g.i))::int FROM generate_series(1, 47) g(i)
             LEFT JOIN unnest(hs, cs) u(h, v) ON u.h = g.i ORDER BY g.i),
       nullif(ARRAY(SELECT (sum(coalesce(u.v, 0)) OVER (ORDER BY g.i))::int FROM generate_series(1, 47) g(i)
                    LEFT JOIN unnest(hs, ts) u(h, v) ON u.h = g.i ORDER BY g.i), array_fill(0, ARRAY[47]))
FROM (
    SELECT day, kind, workflow_id, step_id, priority, sum(c) AS count, sum(t) AS total, array_agg(h) AS hs,
           array_agg(c) AS cs, array_agg(t) AS ts
    FROM (
        SELECT (bucket AT TIME ZONE 'UTC')::date AS day,
               floor(date_part('epoch', bucket - date_trunc('day', bucket, 'UTC')) / 1800)::int + 1 AS h,
               kind, workflow_id, step_id, priority, sum(count) AS c, sum(total) AS t
        FROM workflow_api_reportbucket GROUP BY 1, 2, 3, 4, 5, 6
    ) AS per_half_hour
    GROUP BY 1, 2, 3, 4, 5
) AS r
ORDER BY kind, day, workflow_id, step_id, priority;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('workflow_api', '0022_report_half_hours'),
    ]

    operations = [
        migrations.CreateModel(
            name='ReportDayHalfHours',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('created', 'Created'), ('assigned', 'Assigned'), ('transferred', 'Transferred'), ('escalated', 'Escalated'), ('reassigned_away', 'Reassigned Away'), ('acted', 'Acted'), ('completed', 'Completed'), ('rejected', 'Rejected'), ('cancelled', 'Cancelled'), ('within_sla', 'Within Sla'), ('breached', 'Breached'), ('warned', 'Warned'), ('rated', 'Rated')], max_length=16)),
                ('workflow_id', models.BigIntegerField()),
                ('step_id', models.BigIntegerField(null=True)),
                ('priority', models.CharField(max_length=16)),
                ('count', models.BigIntegerField(default=0)),
                ('total', models.BigIntegerField(default=0)),
                ('day', models.DateField()),
                ('counts', django.contrib.postgres.fields.ArrayField(base_field=models.IntegerField(), size=47)),
                ('totals', django.contrib.postgres.fields.ArrayField(base_field=models.IntegerField(), null=True, size=47)),
            ],
        ),
        migrations.RunSQL(FILL, migrations.RunSQL.noop),
        migrations.AddConstraint(
            model_name='reportdayhalfhours',
            constraint=models.UniqueConstraint(fields=('kind', 'day', 'workflow_id', 'step_id', 'priority'), include=('count', 'total'), name='report_day_half_hours_key', nulls_distinct=False),
        ),
        migrations.DeleteModel(
            name='ReportDay',
        ),
        migrations.DeleteModel(
            name='ReportHalfHour',
        ),
    ]
