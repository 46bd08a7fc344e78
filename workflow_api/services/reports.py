"""Report rollups: deltas written with the changes they count, folded into 15-minute buckets, UTC days as running sums
per half hour, and UTC days by user.

Every transaction that changes a task appends :class:`ReportDelta` rows (one bulk INSERT; intake's own statement
writes them too), never updating a shared row, so intake batches running side by side never wait on each other for
them. :func:`fold_report_deltas` (a scheduled job) moves deltas into :class:`ReportBucket` rows and, in the same
statement, :class:`ReportDayHalfHours` rows (the same sums per UTC day without the user, running at each half hour's
end) and :class:`ReportUserDay` rows (per UTC day and user) with ``SKIP LOCKED``; readers add the deltas not folded
yet, so a figure is exact the moment its transaction commits.

What each kind counts is defined once over the raw rows, in :data:`RAW_EVENTS_SQL`: the writers here follow it,
:func:`rebuild_rollups` (the history generator) computes the buckets from it, and :func:`rollup_differences`
(``manage.py reports_check``) compares it with what the writers wrote.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection, transaction

from tts_common.base.database import binding_cursor
from workflow_api.models import (
    HALF_HOURS_A_DAY,
    Assignment,
    AuditEvent,
    ReportBucket,
    ReportDayHalfHours,
    ReportDelta,
    ReportEvent,
    ReportUserDay,
    StepInstance,
    Task,
)

FOLD_BATCH_SIZE = 10_000
# 15-minute buckets aligned on UTC quarter hours: every time zone's day boundary (offsets are whole quarter hours)
# falls between buckets, so days and weeks in any zone are sums of whole buckets.
BUCKET_SQL = "date_bin('15 minutes', {column}, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
HALF_HOUR_SQL = "date_bin('30 minutes', {column}, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
DAY_SQL = "({column} AT TIME ZONE 'UTC')::date"  # the UTC day of an instant

# The half hour of its UTC day an instant falls in, 1 to 48 (the index of its running sums).
HALF_HOUR_INDEX_SQL = "floor(date_part('epoch', {column} - date_trunc('day', {column}, 'UTC')) / 1800)::int + 1"

_TASK, _STEP, _ASSIGNMENT, _AUDIT, _DELTA, _BUCKET, _DAY_HALF_HOURS, _USER_DAY = (
    model._meta.db_table
    for model in (Task, StepInstance, Assignment, AuditEvent, ReportDelta, ReportBucket, ReportDayHalfHours, ReportUserDay)
)
KEY_COLUMNS = ("kind", "workflow_id", "step_id", "user_id", "priority")
DAY_KEY_COLUMNS = ("kind", "workflow_id", "step_id", "priority")

# Every counted event, from the raw rows: (occurred_at, kind, workflow_id, step_id, user_id, priority, count, total).
RAW_EVENTS_SQL = f"""
SELECT t.created_at AS occurred_at, 'created' AS kind, t.workflow_id, f.step_id, NULL::bigint AS user_id, t.priority,
       1 AS count, 0 AS total
FROM {_TASK} t
LEFT JOIN LATERAL (SELECT step_id FROM {_STEP} s WHERE s.task_id = t.task_id ORDER BY s.started_at, s.id LIMIT 1) f
       ON true
UNION ALL
SELECT a.assigned_at, k.kind, t.workflow_id, s.step_id, a.user_id, t.priority, 1, 0
FROM {_ASSIGNMENT} a JOIN {_STEP} s ON s.id = a.step_instance_id JOIN {_TASK} t ON t.task_id = a.task_id
CROSS JOIN LATERAL (VALUES ('assigned'),
    (CASE a.reason WHEN '{Assignment.Reason.TRANSFER}' THEN 'transferred'
                   WHEN '{Assignment.Reason.ESCALATION}' THEN 'escalated' END)) k(kind)
WHERE k.kind IS NOT NULL
UNION ALL
SELECT a.ended_at, 'reassigned_away', t.workflow_id, s.step_id, a.user_id, t.priority, 1, 0
FROM {_ASSIGNMENT} a JOIN {_STEP} s ON s.id = a.step_instance_id JOIN {_TASK} t ON t.task_id = a.task_id
WHERE a.ended_at IS NOT NULL AND (s.ended_at IS NULL OR a.ended_at < s.ended_at)
UNION ALL
SELECT s.ended_at, k.kind, t.workflow_id, s.step_id, s.acted_by_id, t.priority, 1, 0
FROM {_STEP} s JOIN {_TASK} t ON t.task_id = s.task_id
CROSS JOIN LATERAL (VALUES (CASE WHEN s.acted_by_id IS NOT NULL THEN 'acted' END),
    (CASE WHEN s.status = '{StepInstance.Status.ESCALATED}' THEN 'escalated' END)) k(kind)
WHERE s.ended_at IS NOT NULL AND k.kind IS NOT NULL
UNION ALL
SELECT t.completed_at, k.kind, t.workflow_id, e.step_id, e.user_id, t.priority, 1, k.total
FROM {_TASK} t
LEFT JOIN LATERAL (
    SELECT s.step_id, (SELECT a.user_id FROM {_ASSIGNMENT} a WHERE a.step_instance_id = s.id
                       AND a.ended_at = t.completed_at ORDER BY a.assigned_at DESC, a.id DESC LIMIT 1) AS user_id
    FROM {_STEP} s WHERE s.task_id = t.task_id ORDER BY s.started_at DESC, s.id DESC LIMIT 1
) e ON true
CROSS JOIN LATERAL (VALUES (t.status::text, 0),
    (CASE WHEN t.status IN ('completed', 'rejected') AND t.completed_at <= t.sla_deadline THEN 'within_sla' END, 0),
    (CASE WHEN t.csat_rating IS NOT NULL THEN 'rated' END, t.csat_rating)) k(kind, total)
WHERE t.completed_at IS NOT NULL AND t.status IN ('completed', 'rejected', 'cancelled') AND k.kind IS NOT NULL
UNION ALL
SELECT e.occurred_at, CASE e.action WHEN 'task.sla_warning' THEN 'warned' ELSE 'breached' END, t.workflow_id,
       w.step_id, (e.data ->> CASE e.action WHEN 'task.sla_warning' THEN 'notified_user' ELSE 'assigned_user' END)::bigint,
       t.priority, 1, 0
FROM {_AUDIT} e JOIN {_TASK} t ON t.task_id::text = e.entity_id
LEFT JOIN LATERAL (
    SELECT s.step_id FROM {_STEP} s WHERE s.task_id = t.task_id AND s.started_at <= e.occurred_at
    AND (s.ended_at IS NULL OR s.ended_at > e.occurred_at) ORDER BY s.started_at DESC, s.id DESC LIMIT 1
) w ON true
WHERE e.action IN ('task.sla_warning', 'task.sla_breached') AND e.entity_type = 'task'
"""


@dataclass(frozen=True)
class Delta:
    kind: ReportEvent
    at: datetime
    task: Task
    step_id: int | None
    user_id: int | None = None
    count: int = 1
    total: int = 0


_INSERT_DELTAS_SQL = f"""
INSERT INTO {_DELTA} (occurred_at, kind, workflow_id, step_id, user_id, priority, count, total)
SELECT * FROM unnest(%b::timestamptz[], %b::text[], %b::bigint[], %b::bigint[], %b::bigint[], %b::text[], %b::int[], %b::int[])
"""


def record_deltas(deltas: Iterable[Delta]) -> None:
    """One INSERT for the lot, in the caller's transaction (columns as arrays sent in binary: cheaper than
    bulk_create's per-value preparation and quoting)."""
    rows = list(deltas)
    if not rows:
        return
    with binding_cursor() as cursor:
        cursor.execute(
            _INSERT_DELTAS_SQL,
            [
                [delta.at for delta in rows],
                [str(delta.kind) for delta in rows],
                [delta.task.workflow_id for delta in rows],
                [delta.step_id for delta in rows],
                [delta.user_id for delta in rows],
                [delta.task.priority for delta in rows],
                [delta.count for delta in rows],
                [delta.total for delta in rows],
            ],
        )


def assignment_deltas(pairs: Sequence[tuple[Task, StepInstance]], reason: str, *, now: datetime) -> list[Delta]:
    """A user started holding each task (``assigned_user``, None: nobody did) at its step instance."""
    kinds = [ReportEvent.ASSIGNED]
    if reason == Assignment.Reason.TRANSFER:
        kinds.append(ReportEvent.TRANSFERRED)
    elif reason == Assignment.Reason.ESCALATION:
        kinds.append(ReportEvent.ESCALATED)
    return [
        Delta(kind, now, task, instance.step_id, task.assigned_user_id)
        for task, instance in pairs
        if task.assigned_user_id is not None
        for kind in kinds
    ]


def end_assignments_away(tasks: Sequence[Task], *, now: datetime, user_id: int | None = None) -> None:
    """End the tasks' open assignments (only ``user_id``'s, when given) while their steps go on, and count each
    as a reassignment away from its holder. The caller holds the tasks' locks."""
    ended = Assignment.objects.filter(task__in=tasks, ended_at__isnull=True)
    if user_id is not None:
        ended = ended.filter(user_id=user_id)
    # task -> (who held it, at which step)
    holders = {task_id: (user_id, step_id) for task_id, user_id, step_id in ended.values_list("task_id", "user_id", "step_instance__step_id")}
    ended.update(ended_at=now)
    by_pk = {task.pk: task for task in tasks}
    record_deltas(
        Delta(ReportEvent.REASSIGNED_AWAY, now, by_pk[task_id], step_id, user_id)
        for task_id, (user_id, step_id) in holders.items()
    )


def step_close_deltas(task: Task, instance: StepInstance, *, at: datetime) -> list[Delta]:
    """The task's step ``instance`` just closed (``status``, ``acted_by`` set) at ``at``."""
    deltas = []
    if instance.acted_by_id is not None:
        deltas.append(Delta(ReportEvent.ACTED, at, task, instance.step_id, instance.acted_by_id))
    if instance.status == StepInstance.Status.ESCALATED:
        deltas.append(Delta(ReportEvent.ESCALATED, at, task, instance.step_id, instance.acted_by_id))
    return deltas


def task_end_deltas(task: Task, *, at: datetime, step_id: int | None, holder: int | None) -> list[Delta]:
    """The task just ended (``status`` set) at ``at``, at ``step_id``, held by ``holder``."""
    deltas = [Delta(ReportEvent(task.status), at, task, step_id, holder)]
    if task.status in (Task.Status.COMPLETED, Task.Status.REJECTED) and at <= task.sla_deadline:
        deltas.append(Delta(ReportEvent.WITHIN_SLA, at, task, step_id, holder))
    if task.csat_rating is not None:
        deltas.append(Delta(ReportEvent.RATED, at, task, step_id, holder, total=task.csat_rating))
    return deltas


def csat_change_delta(task: Task, *, before: int | None) -> Delta | None:
    """An ended task's rating changed from ``before`` to ``task.csat_rating``: counted at the task's end, where its
    first rating was (the end's step and holder, read as :data:`RAW_EVENTS_SQL` reads them)."""
    after = task.csat_rating
    if before == after:
        return None
    if task.completed_at is None:
        raise ValueError(f"Task {task.task_id} is {task.status}: only an ended task's rating is counted")
    instance = StepInstance.objects.filter(task=task).order_by("-started_at", "-id").first()
    holder = None
    if instance is not None:
        holder = (
            Assignment.objects.filter(step_instance=instance, ended_at=task.completed_at)
            .order_by("-assigned_at", "-id")
            .values_list("user_id", flat=True)
            .first()
        )
    return Delta(
        ReportEvent.RATED,
        task.completed_at,
        task,
        instance.step_id if instance else None,
        holder,
        count=(after is not None) - (before is not None),
        total=(after or 0) - (before or 0),
    )


# --- Folding and rebuilding ------------------------------------------------------------------------------------------
_GROUPED = ", ".join(KEY_COLUMNS)
# ORDER BY: concurrent folds lock the rows they share in one order, so they never deadlock. {rows}: the deltas
# (or raw events) to add, with occurred_at and the key columns.
_UPSERT_BUCKETS = f"""
INSERT INTO {_BUCKET} (bucket, {_GROUPED}, count, total)
SELECT {BUCKET_SQL.format(column='occurred_at')}, {_GROUPED}, sum(count), sum(total) FROM {{rows}} AS r
GROUP BY 1, {_GROUPED}
ORDER BY 1, {_GROUPED}
ON CONFLICT ON CONSTRAINT report_bucket_key
DO UPDATE SET count = {_BUCKET}.count + EXCLUDED.count, total = {_BUCKET}.total + EXCLUDED.total"""


_ROLLUP_KEY = DAY_KEY_COLUMNS[1:]  # after the kind
_USER_DAY_KEY = ", ".join(("user_id", *_ROLLUP_KEY))
# Into the days by user: its unique index (which includes count and total) is (kind, day, user, the rest of the key).
_UPSERT_USER_DAYS = f"""
INSERT INTO {_USER_DAY} (day, kind, {_USER_DAY_KEY}, count, total)
SELECT {DAY_SQL.format(column="occurred_at")}, kind, {_USER_DAY_KEY}, sum(count), sum(total) FROM {{rows}} AS r
GROUP BY 1, kind, {_USER_DAY_KEY}
ORDER BY kind, 1, {_USER_DAY_KEY}
ON CONFLICT (kind, day, {_USER_DAY_KEY})
DO UPDATE SET count = {_USER_DAY}.count + EXCLUDED.count, total = {_USER_DAY}.total + EXCLUDED.total"""

_RUNNING = HALF_HOURS_A_DAY - 1  # running sums stored: the last half hour's end is the day's count
_ZEROS = f"array_fill(0, ARRAY[{_RUNNING}])"


def running_sum_sql(alias: str, column: str, at: str) -> str:
    """SQL: the running sum of ``column`` ("count" or "total") in the row ``alias`` of the days' running sums at the
    end of the day's half hour ``at`` (an SQL integer: 0 is the day's start, 48 its end)."""
    return f"CASE WHEN {at} = {HALF_HOURS_A_DAY} THEN {alias}.{column} ELSE coalesce({alias}.{column}s[{at}], 0) END"


def _running(values: str) -> str:
    """A day's running sums, at each half hour's end but the last, of the per-half-hour sums ``values`` at the half
    hours ``r.hs`` (parallel arrays)."""
    return f"""ARRAY(
        SELECT (sum(coalesce(u.v, 0)) OVER (ORDER BY g.i))::int FROM generate_series(1, {_RUNNING}) g(i)
        LEFT JOIN unnest(r.hs, r.{values}) u(h, v) ON u.h = g.i ORDER BY g.i)"""


def _added(column: str) -> str:
    """The stored running sums ``column`` plus the new ones, element by element (a NULL array is all zeros)."""
    return f"""ARRAY(
        SELECT a + b FROM unnest(coalesce({_DAY_HALF_HOURS}.{column}, {_ZEROS}), coalesce(EXCLUDED.{column}, {_ZEROS}))
        WITH ORDINALITY u(a, b, i) ORDER BY i)"""


_DAY_KEY = ", ".join(_ROLLUP_KEY)
# Per (UTC day, key): the rows' sums per half hour, as parallel arrays, made running sums; added to the day's row.
_UPSERT_DAY_HALF_HOURS = f"""
INSERT INTO {_DAY_HALF_HOURS} (day, kind, {_DAY_KEY}, count, total, counts, totals)
SELECT r.day, r.kind, {", ".join(f"r.{column}" for column in _ROLLUP_KEY)}, r.count, r.total, {_running("cs")},
       nullif({_running("ts")}, {_ZEROS})
FROM (
    SELECT day, kind, {_DAY_KEY}, sum(c) AS count, sum(t) AS total, array_agg(h) AS hs, array_agg(c) AS cs,
           array_agg(t) AS ts
    FROM (
        SELECT {DAY_SQL.format(column="occurred_at")} AS day, {HALF_HOUR_INDEX_SQL.format(column="occurred_at")} AS h,
               kind, {_DAY_KEY}, sum(count) AS c, sum(total) AS t
        FROM {{rows}} AS r GROUP BY day, h, kind, {_DAY_KEY}
    ) AS per_half_hour
    GROUP BY day, kind, {_DAY_KEY}
) AS r
ORDER BY r.kind, r.day, {", ".join(f"r.{column}" for column in _ROLLUP_KEY)}
ON CONFLICT (kind, day, {_DAY_KEY})
DO UPDATE SET count = {_DAY_HALF_HOURS}.count + EXCLUDED.count, total = {_DAY_HALF_HOURS}.total + EXCLUDED.total,
    counts = {_added("counts")}, totals = nullif({_added("totals")}, {_ZEROS})"""

# One statement: the deltas moved and the rollups grow together (a reader never sees one without the others).
_FOLD_SQL = f"""
WITH moved AS (
    DELETE FROM {_DELTA} WHERE id IN (
        SELECT id FROM {_DELTA} ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
    ) RETURNING occurred_at, {_GROUPED}, count, total
), buckets AS ({_UPSERT_BUCKETS.format(rows="moved")}
), user_days AS ({_UPSERT_USER_DAYS.format(rows="moved")}
)""" + _UPSERT_DAY_HALF_HOURS.format(rows="moved")


def fold_report_deltas(*, batch_size: int = FOLD_BATCH_SIZE) -> int:
    """Move deltas into their buckets, days (running per half hour) and days by user, a batch per transaction,
    until none is left; returns the day rows written.

    ``SKIP LOCKED``: deltas another fold is moving are left to it, so overlapping runs share the work."""
    written = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_FOLD_SQL, [batch_size])
            batch = cursor.rowcount
        if batch == 0:  # nothing (left) to move
            return written
        written += batch


@transaction.atomic
def rebuild_rollups() -> None:
    """Buckets, days (running per half hour) and days by user computed afresh from the raw rows (for data written
    without the services, e.g. generate_history), replacing the rollups and deltas there were. Writers are kept out
    while it runs."""
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {_DELTA}, {_BUCKET}, {_DAY_HALF_HOURS}, {_USER_DAY} IN EXCLUSIVE MODE")
        for table in (_DELTA, _BUCKET, _DAY_HALF_HOURS, _USER_DAY):
            cursor.execute(f"DELETE FROM {table}")
        cursor.execute(_UPSERT_BUCKETS.format(rows=f"({RAW_EVENTS_SQL})"))
        # The coarser rollups from the buckets just written (a bucket lies in one half hour): the raw rows are read
        # once.
        buckets = f"(SELECT bucket AS occurred_at, {_GROUPED}, count, total FROM {_BUCKET})"
        cursor.execute(_UPSERT_USER_DAYS.format(rows=buckets))
        cursor.execute(_UPSERT_DAY_HALF_HOURS.format(rows=buckets))


# (rollup, bucket, half hour or UTC day start, kind, workflow_id, step_id, user_id, priority); a half hour's user_id
# is None (a user day's is its user).
RollupKey = tuple[str, datetime, str, int, int | None, int | None, str]
_UTC_DAY_START = f"({DAY_SQL.format(column='occurred_at')})::timestamp AT TIME ZONE 'UTC'"
_ROLLUP_KEY_SQL = {
    "bucket": (BUCKET_SQL.format(column="occurred_at"), "user_id"),
    "half_hour": (HALF_HOUR_SQL.format(column="occurred_at"), "NULL::bigint"),
    "user_day": (_UTC_DAY_START, "user_id"),
}


def _sums(rollup: str, sql: str) -> dict[RollupKey, tuple[int, int]]:
    """(count, total) per key of ``rollup`` of the events ``sql`` gives (occurred_at, the key columns, count, total)."""
    at, user = _ROLLUP_KEY_SQL[rollup]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {at}, kind, workflow_id, step_id, {user}, priority, sum(count), sum(total) FROM ({sql}) AS r "
            "GROUP BY 1, 2, 3, 4, 5, 6"
        )
        return {(rollup, *row[:6]): (int(row[6]), int(row[7])) for row in cursor.fetchall() if row[6] or row[7]}


def _coarser(rollup: str, buckets: dict[RollupKey, tuple[int, int]]) -> dict[RollupKey, tuple[int, int]]:
    """The buckets summed per half hour without the user ("half_hour") or per UTC day with it ("user_day")."""
    sums: dict[RollupKey, tuple[int, int]] = {}
    for (_, at, kind, workflow_id, step_id, user_id, priority), (count, total) in buckets.items():
        at = at.astimezone(UTC)
        start = at.replace(minute=at.minute // 30 * 30) if rollup == "half_hour" else at.replace(hour=0, minute=0)
        key = (rollup, start, kind, workflow_id, step_id, user_id if rollup == "user_day" else None, priority)
        summed = sums.get(key, (0, 0))
        sums[key] = (summed[0] + count, summed[1] + total)
    return {key: summed for key, summed in sums.items() if summed != (0, 0)}


def rollup_differences() -> dict[RollupKey, tuple[tuple[int, int], tuple[int, int]]]:
    """Each bucket, half hour or user day whose (count, total) the rollups (buckets, the days' running sums read back
    as half hours, days by user; plus deltas not folded yet) give otherwise than the raw rows: key -> (rollups, raw).
    Empty when they agree (every half hour of a day's running sums agreeing, so does every run of them). Both are read from one
    snapshot (REPEATABLE READ), so work going on meanwhile is in both or in neither."""
    if connection.in_atomic_block:
        return _differences()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        return _differences()


def _differences() -> dict[RollupKey, tuple[tuple[int, int], tuple[int, int]]]:
    deltas = f"SELECT occurred_at, {_GROUPED}, count, total FROM {_DELTA}"
    rollups = _sums("bucket", f"SELECT bucket AS occurred_at, {_GROUPED}, count, total FROM {_BUCKET} UNION ALL {deltas}")
    # Each half hour's sums: its running sums (the last's: the day's) less the previous half hour's (the first's: less
    # nothing); the empty ones (most of a day's 48) left out in PostgreSQL.
    half_hours = f"""
        SELECT * FROM (
            SELECT d.day::timestamp AT TIME ZONE 'UTC' + (i - 1) * interval '30 minutes' AS occurred_at, d.kind,
                   d.workflow_id, d.step_id, NULL::bigint AS user_id, d.priority,
                   {running_sum_sql("d", "count", "i")} - {running_sum_sql("d", "count", "i - 1")} AS count,
                   {running_sum_sql("d", "total", "i")} - {running_sum_sql("d", "total", "i - 1")} AS total
            FROM {_DAY_HALF_HOURS} d CROSS JOIN generate_series(1, {HALF_HOURS_A_DAY}) i
        ) AS h WHERE count <> 0 OR total <> 0"""
    rollups |= _sums("half_hour", f"{half_hours} UNION ALL {deltas}")
    rollups |= _sums(
        "user_day",
        "SELECT day::timestamp AT TIME ZONE 'UTC' AS occurred_at, kind, workflow_id, step_id, user_id, priority, "
        f"count, total FROM {_USER_DAY} UNION ALL {deltas}",
    )
    raw = _sums("bucket", f"SELECT occurred_at, {_GROUPED}, count, total FROM ({RAW_EVENTS_SQL}) AS e")
    raw |= _coarser("half_hour", raw) | _coarser("user_day", raw)  # the raw rows read once
    return {
        key: (rollups.get(key, (0, 0)), raw.get(key, (0, 0)))
        for key in rollups.keys() | raw.keys()
        if rollups.get(key, (0, 0)) != raw.get(key, (0, 0))
    }
