"""Reports: SLA, throughput, backlog, step bottlenecks, agents (issue 16).

Counts come from the rollups (services/reports.py: UTC days as running sums per half hour, days by user, 15-minute
buckets, the deltas not folded yet),
cut into days or weeks of the requested time zone; medians and p90s from the raw rows of the range, through their indexes;
what is open now from the open tasks. Every report is limited to what the caller may see (:func:`reports_scope`).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.utils import timezone

from tts_common.base import permissions
from tts_common.base.errors import Invalid
from tts_common.http.auth import has_permission
from workflow_api.models import (
    HALF_HOURS_A_DAY,
    ReportBucket,
    ReportDayHalfHours,
    ReportDelta,
    ReportEvent,
    ReportUserDay,
    RoleReplica,
    RoleSettings,
    StepInstance,
    Task,
    UserReplica,
    Workflow,
    WorkflowStep,
)
from workflow_api.services.reports import BUCKET_SQL, running_sum_sql

_TASK, _STEP, _WSTEP, _DELTA, _BUCKET, _DAY_HALF_HOURS, _USER_DAY = (
    model._meta.db_table
    for model in (Task, StepInstance, WorkflowStep, ReportDelta, ReportBucket, ReportDayHalfHours, ReportUserDay)
)
GROUPS = ("period", "workflow", "step", "role", "agent", "priority")
# Open tasks' age buckets, in days: [low, high).
AGE_BUCKETS = (("age_lt_1d", 0, 1), ("age_1_3d", 1, 3), ("age_3_7d", 3, 7), ("age_7_30d", 7, 30), ("age_gt_30d", 30, None))
LIST_LIMIT = 50


@dataclass(frozen=True)
class ReportScope:
    """What the caller may see: ``role_ids`` None = every role's figures, ``user_id`` None = everyone's."""

    role_ids: tuple[int, ...] | None = None
    user_id: int | None = None


def reports_scope(user: Any) -> ReportScope:
    """Holders of ``reports.view`` (admins included) see everything; a role's lead, the figures of the steps their
    roles own; anyone else, their own."""
    if has_permission(user, permissions.REPORTS_VIEW):
        return ReportScope()
    led = tuple(RoleSettings.objects.filter(lead_user_id=user.id).values_list("role_id", flat=True).order_by("role_id"))
    return ReportScope(role_ids=led) if led else ReportScope(user_id=user.id)


@dataclass(frozen=True)
class ReportQuery:
    """A validated report request: the local days [first_day, last_day] of ``tz``, the filters, the grouping."""

    first_day: date
    last_day: date
    tz: str
    interval: str = "day"  # day | week
    workflow_id: int | None = None
    role_id: int | None = None
    user_id: int | None = None
    priority: str | None = None
    group: str = "period"

    @property
    def start(self) -> datetime:
        return day_start(self.first_day, self.tz)

    @property
    def end(self) -> datetime:
        return day_start(self.last_day + timedelta(days=1), self.tz)

    def periods(self) -> list[date]:
        first = self.first_day - timedelta(days=self.first_day.weekday()) if self.interval == "week" else self.first_day
        step = timedelta(days=7 if self.interval == "week" else 1)
        return [first + step * i for i in range((self.last_day - first) // step + 1)]


def day_start(day: date, tz: str) -> datetime:
    """The instant (UTC) the local ``day`` of ``tz`` begins: reports and the task list's day filters cut days so."""
    return datetime.combine(day, datetime.min.time(), ZoneInfo(tz)).astimezone(UTC)


REPORT_MAX_DAYS = 731  # two years, a leap day included
# Days a report or the task list cuts: a day before 1970 is no task's, and a day's end in any zone stays in year 9999.
FIRST_YEAR, LAST_YEAR = 1970, 9998
UNKNOWN_TIME_ZONE = "Unknown time zone: use an IANA name such as Asia/Manila."
DAY_OUT_OF_RANGE = f"Must be a day between {FIRST_YEAR} and {LAST_YEAR}."


def report_query(
    *, tables: tuple[str, ...], tz: str, interval: str, group: str, table: str | None = None, workflow: int | None = None,
    role: int | None = None, agent: int | None = None, priority: str | None = None, **days: date,
) -> tuple[ReportQuery, str]:
    """The query of validated query-string values (``from``, ``to`` in ``days``) and the CSV table asked for (default:
    the report's first); raises Invalid naming each bad field: an unknown time zone, workflow, role or
    agent, ``from`` after ``to``, a range over two years, a table the report does not have."""
    errors: dict[str, list[str]] = {}
    if tz not in known_time_zones():
        raise Invalid({"tz": [UNKNOWN_TIME_ZONE]})
    last = days.get("to") or timezone.now().astimezone(ZoneInfo(tz)).date()
    first = days.get("from") or last - timedelta(days=29)
    for name, day in (("from", first), ("to", last)):
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            errors[name] = [DAY_OUT_OF_RANGE]
    if not errors and first > last:
        errors["from"] = ["Must not be after to."]
    elif not errors and (last - first).days >= REPORT_MAX_DAYS:
        errors["to"] = [f"The range may cover at most {REPORT_MAX_DAYS} days (two years)."]
    for name, value, model in (("workflow", workflow, Workflow), ("role", role, RoleReplica), ("agent", agent, UserReplica)):
        if value is not None and not model.objects.filter(pk=value).exists():
            errors[name] = [f"Unknown {name}."]
    if table is not None and table not in tables:
        errors["table"] = [f"One of: {', '.join(tables)}."]
    if errors:
        raise Invalid(errors)
    query = ReportQuery(
        first_day=first, last_day=last, tz=tz, interval=interval, workflow_id=workflow, role_id=role, user_id=agent,
        priority=priority, group=group,
    )  # fmt: skip
    return query, table or tables[0]


@lru_cache(maxsize=1)
def known_time_zones() -> frozenset[str]:
    """Zone names PostgreSQL (which cuts the days) knows."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_timezone_names")
        return frozenset(row[0] for row in cursor.fetchall())


def _params(query: ReportQuery, scope: ReportScope) -> dict[str, Any]:
    return {
        "start": query.start, "end": query.end, "tz": query.tz, "interval": query.interval,
        "workflow": query.workflow_id, "role": query.role_id, "agent": query.user_id, "priority": query.priority,
        "scope_roles": list(scope.role_ids) if scope.role_ids is not None else None, "scope_user": scope.user_id,
        "steps": _steps_kept(query, scope),
    }  # fmt: skip


def _steps_kept(query: ReportQuery, scope: ReportScope, *, by_workflow: bool = True) -> list[int] | None:
    """The steps the workflow, role and scope filters keep (None: no such filter), so that step visits are filtered
    by their step alone, with no join the planner would misjudge. ``by_workflow=False``: by the role filter and the
    scope alone, so exactly the steps a join to the step's role keeps (a row without a step kept by neither)."""
    if (query.workflow_id is None or not by_workflow) and query.role_id is None and scope.role_ids is None:
        return None
    steps = WorkflowStep.objects.all()
    if query.workflow_id is not None and by_workflow:
        steps = steps.filter(workflow_id=query.workflow_id)
    if query.role_id is not None:
        steps = steps.filter(role_id=query.role_id)
    if scope.role_ids is not None:
        steps = steps.filter(role_id__in=scope.role_ids)
    return list(steps.values_list("pk", flat=True))


def _where(*, workflow: str, role: str, user: str, priority: str) -> str:
    """The filters and the scope over the given columns (each filter applies when its parameter is set)."""
    return f"""(%(workflow)s::bigint IS NULL OR {workflow} = %(workflow)s)
        AND (%(role)s::bigint IS NULL OR {role} = %(role)s)
        AND (%(agent)s::bigint IS NULL OR {user} = %(agent)s)
        AND (%(priority)s::text IS NULL OR {priority} = %(priority)s)
        AND (%(scope_roles)s::bigint[] IS NULL OR {role} = ANY(%(scope_roles)s))
        AND (%(scope_user)s::bigint IS NULL OR {user} = %(scope_user)s)"""


# A row's group value; by period: its bucket (a period per bucket, below).
_GROUP_SQL = {
    "period": "e.bucket",
    "workflow": "e.workflow_id",
    "step": "e.step_id",
    "role": "ws.role_id",
    "agent": "e.user_id",
    "priority": "e.priority",
}


_HALF_HOUR = timedelta(minutes=30)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Runs = list[tuple[datetime, datetime]]
# A UTC day and a run of its whole half hours [low, high), 0 <= low < high <= 48: one row per key of the days' running
# sums (the sum at high's end less the sum at low's).
Pieces = list[tuple[date, int, int]]


def _split(query: ReportQuery, group: str) -> tuple[Pieces, Runs]:
    """The range as runs of whole half hours within one UTC day (read from the days' running sums) and [low, high)
    runs of what is left at their ends (the 15-minute buckets: every zone's day starts on one); each inside one
    period when grouped by period. A local day of a zone whose offset is a whole or half hour is at most two pieces
    (the end of one UTC day, the start of the next) and no bucket."""
    pieces: Pieces = []
    rest: Runs = []

    def leave(low: datetime, high: datetime) -> None:
        if low >= high:
            return
        if rest and rest[-1][1] == low:  # continues the last run
            rest[-1] = (rest[-1][0], high)
        else:
            rest.append((low, high))

    cuts = [query.start, *(day_start(period, query.tz) for period in query.periods()[1:]), query.end]
    bounds = [query.start, query.end] if group != "period" else cuts
    for low, high in zip(bounds, bounds[1:], strict=False):
        first = _EPOCH - (_EPOCH - low) // _HALF_HOUR * _HALF_HOUR  # low rounded up to a half hour
        last = _EPOCH + (high - _EPOCH) // _HALF_HOUR * _HALF_HOUR  # high rounded down
        if first >= last:
            leave(low, high)
            continue
        leave(low, first)
        while first < last:
            day = first.date()
            midnight = datetime.combine(day, datetime.min.time(), UTC)
            until = min(last, midnight + timedelta(days=1))
            pieces.append((day, (first - midnight) // _HALF_HOUR, (until - midnight) // _HALF_HOUR))
            first = until
        leave(last, high)
    return pieces, rest


def _within(column: str, name: str, runs: list[Any], params: dict[str, Any]) -> str:
    """``column`` in one of the [low, high) runs, as constant ranges the planner can weigh and scan an index by
    (a join to an array of ranges let it read the whole index for a filter instead); adds their values to ``params``."""
    ranges = []
    for i, (low, high) in enumerate(runs):
        params[f"{name}_low_{i}"], params[f"{name}_high_{i}"] = low, high
        ranges.append(f"{column} >= %({name}_low_{i})s AND {column} < %({name}_high_{i})s")
    return " OR ".join(f"({condition})" for condition in ranges) or "false"


# The role filter and scope as the days' own step column, checked on their index entries (the join to the step's role
# after the scan still applies them; this spares the rows it would drop). Not on the buckets: their index leads with
# the bucket, and a list of steps in its scan makes it one scan of the range per kind and step (13 times the buffers
# for a role of 17 steps at 1M tasks).
_ROLE_STEPS = "(%(role_steps)s::bigint[] IS NULL OR {alias}.step_id = ANY(%(role_steps)s::bigint[]))"


def _day_runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """The days as [low, high) runs of consecutive days."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and runs[-1][1] == day:
            runs[-1] = (runs[-1][0], day + timedelta(days=1))
        else:
            runs.append((day, day + timedelta(days=1)))
    return runs


def _counts(query: ReportQuery, scope: ReportScope, kinds: Iterable[str], group: str) -> dict[Any, dict[str, tuple[int, int]]]:
    """Rollup sums of ``kinds`` over the range: group value -> kind -> (count, total). Runs of whole half hours within
    a UTC day come from the days' running sums, a row per key and run (whole days from its index alone); grouped by
    agent, whole UTC days from the days by user and the rest from the buckets (the running sums have no user); one
    agent's figures (filter or scope) from their own buckets alone (fewer rows than everyone's days, read by the
    buckets' user index)."""
    pieces: Pieces = []
    rest = [(query.start, query.end)]
    if query.user_id is None and scope.user_id is None:
        pieces, rest = _split(query, group)
    # Whole UTC days: read from the index alone (the day's count and total).
    whole = [day for day, low, high in pieces if (low, high) == (0, HALF_HOURS_A_DAY)]
    parts = [piece for piece in pieces if piece[1:] != (0, HALF_HOURS_A_DAY)]
    user_days: list[date] = []
    if group == "agent":
        user_days, whole = whole, []
        for day, low, high in parts:
            midnight = datetime.combine(day, datetime.min.time(), UTC)
            rest.append((midnight + low * _HALF_HOUR, midnight + high * _HALF_HOUR))
        parts = []
    delta_bucket = BUCKET_SQL.format(column="occurred_at")
    params = {
        **_params(query, scope), "kinds": list(kinds), "role_steps": _steps_kept(query, scope, by_workflow=False),
        "part_days": [day for day, _, _ in parts], "part_lows": [low for _, low, _ in parts],
        "part_highs": [high for _, _, high in parts],
        "part_starts": [datetime.combine(day, datetime.min.time(), UTC) + low * _HALF_HOUR for day, low, _ in parts],
    }  # fmt: skip
    # Summed per group value, then by period per bucket: the zone's period is computed once a bucket, not once a row
    # (a day's rows of a Sydney day are 900 keys' at the same two instants). Groups that sum to nothing are dropped
    # (a key's run without events reads as 0 from the running sums).
    group_key = "date_trunc(%(interval)s, s.g AT TIME ZONE %(tz)s)::date" if group == "period" else "s.g"
    sql = f"""
SELECT {group_key}, s.kind, sum(s.count), sum(s.total)
FROM (
SELECT {_GROUP_SQL[group]} AS g, e.kind, sum(e.count) AS count, sum(e.total) AS total
FROM (
    SELECT c.day::timestamp AT TIME ZONE 'UTC' AS bucket, c.kind, c.workflow_id, c.step_id, NULL::bigint AS user_id,
           c.priority, c.count, c.total
    FROM {_DAY_HALF_HOURS} c WHERE c.kind = ANY(%(kinds)s) AND {_ROLE_STEPS.format(alias="c")}
      AND ({_within("c.day", "day", _day_runs(whole), params)})
    UNION ALL
    SELECT p.start, c.kind, c.workflow_id, c.step_id, NULL::bigint, c.priority,
           {running_sum_sql("c", "count", "p.high")} - {running_sum_sql("c", "count", "p.low")},
           {running_sum_sql("c", "total", "p.high")} - {running_sum_sql("c", "total", "p.low")}
    FROM unnest(%(part_days)s::date[], %(part_starts)s::timestamptz[], %(part_lows)s::int[], %(part_highs)s::int[])
         AS p(day, start, low, high)
    JOIN {_DAY_HALF_HOURS} c ON c.day = p.day
    WHERE c.kind = ANY(%(kinds)s) AND {_ROLE_STEPS.format(alias="c")}
      AND ({_within("c.day", "part_day", _day_runs(params["part_days"]), params)})
    UNION ALL
    SELECT d.day::timestamp AT TIME ZONE 'UTC', d.kind, d.workflow_id, d.step_id, d.user_id, d.priority, d.count, d.total
    FROM {_USER_DAY} d WHERE d.kind = ANY(%(kinds)s) AND {_ROLE_STEPS.format(alias="d")}
      AND ({_within("d.day", "user_day", _day_runs(user_days), params)})
    UNION ALL
    SELECT b.bucket, b.kind, b.workflow_id, b.step_id, b.user_id, b.priority, b.count, b.total
    FROM {_BUCKET} b WHERE b.kind = ANY(%(kinds)s) AND ({_within("b.bucket", "bucket", rest, params)})
    UNION ALL
    SELECT {delta_bucket}, kind, workflow_id, step_id, user_id, priority, count, total FROM {_DELTA}
    WHERE occurred_at >= %(start)s AND occurred_at < %(end)s AND kind = ANY(%(kinds)s)
) e
LEFT JOIN {_WSTEP} ws ON ws.id = e.step_id
WHERE {_where(workflow="e.workflow_id", role="ws.role_id", user="e.user_id", priority="e.priority")}
GROUP BY 1, 2
) s
GROUP BY 1, 2
HAVING sum(s.count) <> 0 OR sum(s.total) <> 0"""
    found: dict[Any, dict[str, tuple[int, int]]] = defaultdict(dict)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for key, kind, count, total in cursor.fetchall():
            found[key][kind] = (int(count), int(total))
    return found


def _rows(query: ReportQuery, found: dict[Any, dict[str, tuple[int, int]]], group: str) -> list[tuple[Any, str, dict[str, tuple[int, int]]]]:
    """(key, label, sums) per group value, in order; every period of the range when grouped by period."""
    if group == "period":
        return [(day.isoformat(), day.isoformat(), found.get(day, {})) for day in query.periods()]
    names = labels(group, [key for key in found if key is not None])
    rows = [(key, names.get(key, "(none)" if key is None else str(key)), sums) for key, sums in found.items()]
    return sorted(rows, key=lambda row: (row[1], str(row[0])))


def labels(group: str, keys: Iterable[Any]) -> dict[Any, str]:
    """Display names of group values (workflow "name vN", step, role, username; a priority is its own)."""
    keys = list(keys)
    if group == "workflow":
        return {pk: f"{name} v{version}" for pk, name, version in Workflow.objects.filter(pk__in=keys).values_list("pk", "name", "version")}
    if group == "step":
        return dict(WorkflowStep.objects.filter(pk__in=keys).values_list("pk", "name"))
    if group == "role":
        return dict(RoleReplica.objects.filter(pk__in=keys).values_list("pk", "name"))
    if group == "agent":
        return dict(UserReplica.objects.filter(pk__in=keys).values_list("pk", "username"))
    return {key: str(key) for key in keys}


def _count(sums: dict[str, tuple[int, int]], *kinds: str) -> int:
    return sum(sums.get(kind, (0, 0))[0] for kind in kinds)


def _csat(sums: dict[str, tuple[int, int]]) -> tuple[int, float | None]:
    count, total = sums.get(ReportEvent.RATED, (0, 0))
    return count, round(total / count, 2) if count else None


def _key(value: Any) -> str:
    return "" if value is None else str(value)


# --- Throughput ----------------------------------------------------------------------------------------------------
THROUGHPUT_KINDS = (
    ReportEvent.CREATED, ReportEvent.ASSIGNED, ReportEvent.COMPLETED, ReportEvent.REJECTED, ReportEvent.CANCELLED,
    ReportEvent.ESCALATED, ReportEvent.TRANSFERRED, ReportEvent.REASSIGNED_AWAY, ReportEvent.BREACHED,
    ReportEvent.WARNED, ReportEvent.RATED,
)  # fmt: skip


def throughput_report(query: ReportQuery, scope: ReportScope) -> dict[str, list[dict[str, Any]]]:
    """Tasks created, assigned, completed, rejected, cancelled, escalated, transferred, reassigned away, breached,
    warned per period (or per group), each counted in the period of its own event; CSAT ratings and average."""
    found = _counts(query, scope, THROUGHPUT_KINDS, query.group)
    rows = []
    for key, label, sums in _rows(query, found, query.group):
        csat_count, csat_average = _csat(sums)
        rows.append(
            {
                "key": _key(key), "label": label,
                **{kind.value: _count(sums, kind) for kind in THROUGHPUT_KINDS if kind != ReportEvent.RATED},
                "csat_count": csat_count, "csat_average": csat_average,
            }  # fmt: skip
        )
    return {"rows": rows}


# --- SLA -------------------------------------------------------------------------------------------------------------
SLA_KINDS = (ReportEvent.COMPLETED, ReportEvent.REJECTED, ReportEvent.WITHIN_SLA, ReportEvent.BREACHED, ReportEvent.WARNED)


def sla_report(query: ReportQuery, scope: ReportScope, *, now: datetime | None = None) -> dict[str, list[dict[str, Any]]]:
    """Per period (or group): tasks finished (completed or rejected), finished within their own deadline (calendar
    and holds included) and the share; breaches; warnings sent. ``at_risk``: open tasks past their first warning
    threshold and not yet breached, least time left first."""
    found = _counts(query, scope, SLA_KINDS, query.group)
    rows = []
    for key, label, sums in _rows(query, found, query.group):
        finished = _count(sums, ReportEvent.COMPLETED, ReportEvent.REJECTED)
        within = _count(sums, ReportEvent.WITHIN_SLA)
        rows.append(
            {
                "key": _key(key), "label": label, "finished": finished, "within_sla": within,
                "within_sla_percent": round(100 * within / finished, 1) if finished else None,
                "breached": _count(sums, ReportEvent.BREACHED), "warned": _count(sums, ReportEvent.WARNED),
            }  # fmt: skip
        )
    return {"rows": rows, "at_risk": _at_risk(query, scope, now=now or timezone.now())}


def _open_task_rows(sql_where: str, order: str, query: ReportQuery, scope: ReportScope, **extra: Any) -> list[dict[str, Any]]:
    sql = f"""
SELECT t.task_id, t.external_ticket_id, t.title, t.workflow_id, t.current_step_id, ws.role_id, t.assigned_user_id,
       t.priority, t.status, t.created_at, t.sla_deadline
FROM {_TASK} t LEFT JOIN {_WSTEP} ws ON ws.id = t.current_step_id
WHERE t.status = ANY(%(open)s) AND {sql_where}
  AND {_where(workflow="t.workflow_id", role="ws.role_id", user="t.assigned_user_id", priority="t.priority")}
ORDER BY {order} LIMIT {LIST_LIMIT}"""
    with connection.cursor() as cursor:
        cursor.execute(sql, {**_params(query, scope), "open": list(Task.OPEN_STATUSES), **extra})
        found = cursor.fetchall()
    workflows = labels("workflow", {row[3] for row in found})
    steps = labels("step", {row[4] for row in found if row[4]})
    users = labels("agent", {row[6] for row in found if row[6]})
    return [
        {
            "task_id": str(task_id), "ticket_id": ticket_id, "title": title, "workflow_id": workflow_id,
            "workflow": workflows.get(workflow_id, ""), "step_id": step_id, "step": steps.get(step_id, ""),
            "role_id": role_id, "assigned_user_id": user_id, "assignee": users.get(user_id, ""), "priority": priority,
            "status": status, "created_at": created_at, "sla_deadline": deadline,
        }  # fmt: skip
        for task_id, ticket_id, title, workflow_id, step_id, role_id, user_id, priority, status, created_at, deadline in found
    ]


def _at_risk(query: ReportQuery, scope: ReportScope, *, now: datetime) -> list[dict[str, Any]]:
    rows = _open_task_rows(
        "t.status IN ('pending', 'in_progress') AND t.sla_warned_at IS NOT NULL AND t.sla_breached_at IS NULL",
        "t.sla_deadline, t.task_id",
        query,
        scope,
    )
    for row in rows:
        row["seconds_left"] = round((row["sla_deadline"] - now).total_seconds())
    return rows


# --- Backlog ---------------------------------------------------------------------------------------------------------
def backlog_report(query: ReportQuery, scope: ReportScope, *, now: datetime | None = None) -> dict[str, list[dict[str, Any]]]:
    """Open tasks now (the date range does not apply): by role and step in age buckets (since the task was made),
    and the oldest."""
    now = now or timezone.now()
    ages = ", ".join(
        f"count(*) FILTER (WHERE t.created_at <= %(now)s - interval '{low} days'"
        + (f" AND t.created_at > %(now)s - interval '{high} days')" if high is not None else ")")
        for _, low, high in AGE_BUCKETS
    )
    sql = f"""
SELECT ws.role_id, t.current_step_id, count(*), {ages}
FROM {_TASK} t LEFT JOIN {_WSTEP} ws ON ws.id = t.current_step_id
WHERE t.status = ANY(%(open)s)
  AND {_where(workflow="t.workflow_id", role="ws.role_id", user="t.assigned_user_id", priority="t.priority")}
GROUP BY 1, 2"""
    with connection.cursor() as cursor:
        cursor.execute(sql, {**_params(query, scope), "open": list(Task.OPEN_STATUSES), "now": now})
        found = cursor.fetchall()
    roles = labels("role", {row[0] for row in found if row[0]})
    steps = labels("step", {row[1] for row in found if row[1]})
    by_age = [
        {
            "role_id": role_id, "role": roles.get(role_id, ""), "step_id": step_id, "step": steps.get(step_id, ""),
            "total": total, **{name: count for (name, _, _), count in zip(AGE_BUCKETS, counts, strict=True)},
        }  # fmt: skip
        for role_id, step_id, total, *counts in found
    ]
    by_age.sort(key=lambda row: (row["role"], row["step"], _key(row["step_id"])))
    oldest = _open_task_rows("true", "t.created_at, t.task_id", query, scope)
    for row in oldest:
        row["age_seconds"] = round((now - row["created_at"]).total_seconds())
    return {"by_age": by_age, "oldest": oldest}


# --- Step bottlenecks ------------------------------------------------------------------------------------------------
# Step visits ``s`` are read from an index alone (their end's, or their step's and end's), the task's priority with
# them (a closed visit keeps it): no task is read.
_VISIT_WHERE = """(%(steps)s::bigint[] IS NULL OR s.step_id = ANY(%(steps)s))
  AND (%(agent)s::bigint IS NULL OR s.acted_by_id = %(agent)s)
  AND (%(scope_user)s::bigint IS NULL OR s.acted_by_id = %(scope_user)s)
  AND (%(priority)s::text IS NULL OR s.priority = %(priority)s)"""


# One sort per group for both, in float8 (date_part; extract gives numeric, several times slower to sort at scale).
_MEDIAN_P90 = "ARRAY[0.5, 0.9]"


def steps_report(query: ReportQuery, scope: ReportScope) -> dict[str, list[dict[str, Any]]]:
    """Per workflow version and step, over the visits that ended in the range: median and p90 time spent in the
    step, the share of the task's SLA it used (its weight × time spent / its due time) against its weight; and the
    breaches that happened while tasks were at the step."""
    # The visits' stored seconds and due shares (StepInstance.seconds_spent, due_used), read from the index alone;
    # the step's weight applied per step (it is the step's own, the same for each of its visits).
    sql = f"""
SELECT s.step_id, count(*), percentile_cont({_MEDIAN_P90}) WITHIN GROUP (ORDER BY s.seconds_spent), avg(s.due_used)
FROM {_STEP} s
WHERE s.ended_at >= %(start)s AND s.ended_at < %(end)s AND {_VISIT_WHERE}
GROUP BY 1"""
    params = _params(query, scope)
    if params["steps"] is None:  # every step, so that the visits are read per step from step_instance_step_ended
        params["steps"] = list(WorkflowStep.objects.values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        visits = {row[0]: row for row in cursor.fetchall()}
    breaches = {key: _count(sums, ReportEvent.BREACHED) for key, sums in _counts(query, scope, [ReportEvent.BREACHED], "step").items()}
    step_ids = [step_id for step_id in visits.keys() | breaches.keys() if step_id is not None]
    steps = {
        step.pk: step
        for step in WorkflowStep.objects.filter(pk__in=step_ids).select_related("workflow", "role").order_by("workflow_id", "order")
    }
    rows = []
    for step_id, step in steps.items():
        _, count, (median, p90), used = visits.get(step_id, (None, 0, (None, None), None))
        rows.append(
            {
                "workflow_id": step.workflow_id, "workflow": f"{step.workflow.name} v{step.workflow.version}",
                "step_id": step_id, "step": step.name, "role_id": step.role_id, "role": step.role.name,
                "sla_weight_percent": float(step.sla_weight), "visits": count,
                "median_seconds": _seconds(median), "p90_seconds": _seconds(p90),
                "sla_used_percent": round(float(step.sla_weight) * used, 1) if used is not None else None,
                "breaches": breaches.get(step_id, 0),
            }  # fmt: skip
        )
    return {"rows": rows}


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


# --- Agents ----------------------------------------------------------------------------------------------------------
AGENT_KINDS = (ReportEvent.ASSIGNED, ReportEvent.ACTED, ReportEvent.COMPLETED, ReportEvent.REASSIGNED_AWAY, ReportEvent.RATED)


def agents_report(query: ReportQuery, scope: ReportScope) -> dict[str, list[dict[str, Any]]]:
    """Per user: tasks assigned to them, steps they closed, tasks completed while they held them, open tasks they
    hold now, median and p90 time from their assignment to their action (the assignment their action ended),
    reassignments away from them, CSAT."""
    found = _counts(query, scope, AGENT_KINDS, "agent")
    params = _params(query, scope)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
SELECT t.assigned_user_id, count(*) FROM {_TASK} t LEFT JOIN {_WSTEP} ws ON ws.id = t.current_step_id
WHERE t.status = ANY(%(open)s) AND t.assigned_user_id IS NOT NULL
  AND {_where(workflow="t.workflow_id", role="ws.role_id", user="t.assigned_user_id", priority="t.priority")}
GROUP BY 1""",
            {**params, "open": list(Task.OPEN_STATUSES)},
        )
        open_now = dict(cursor.fetchall())
        # Each visit keeps when the assignment its action ended began (acted_assigned_at): read from the visits'
        # index alone, no join to the assignments.
        cursor.execute(
            f"""
SELECT s.acted_by_id, percentile_cont({_MEDIAN_P90}) WITHIN GROUP (ORDER BY date_part('epoch', s.ended_at - s.acted_assigned_at))
FROM {_STEP} s
WHERE s.ended_at >= %(start)s AND s.ended_at < %(end)s AND s.acted_assigned_at IS NOT NULL AND {_VISIT_WHERE}
GROUP BY 1""",
            params,
        )
        times = dict(cursor.fetchall())
    user_ids = [user_id for user_id in found.keys() | open_now.keys() | times.keys() if user_id is not None]
    names = labels("agent", user_ids)
    rows = []
    for user_id in user_ids:
        sums = found.get(user_id, {})
        median, p90 = times.get(user_id, (None, None))
        csat_count, csat_average = _csat(sums)
        rows.append(
            {
                "user_id": user_id, "username": names.get(user_id, str(user_id)),
                "assigned": _count(sums, ReportEvent.ASSIGNED), "acted": _count(sums, ReportEvent.ACTED),
                "completed": _count(sums, ReportEvent.COMPLETED), "open_now": open_now.get(user_id, 0),
                "median_seconds_to_action": _seconds(median), "p90_seconds_to_action": _seconds(p90),
                "reassigned_away": _count(sums, ReportEvent.REASSIGNED_AWAY),
                "csat_count": csat_count, "csat_average": csat_average,
            }  # fmt: skip
        )
    rows.sort(key=lambda row: (row["username"], row["user_id"]))
    return {"rows": rows}
