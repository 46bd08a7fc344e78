"""On a generated history of 5,000 tasks (two years of every table, rollups filled by the generator), every report
for random filter sets equals a brute-force recomputation in Python from the raw rows."""
from __future__ import annotations

import random
import uuid
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from tests.workflow_api.factories import api_client
from tts import history
from workflow_api.models import Assignment, AuditEvent, StepInstance, Task, UserReplica, WorkflowStep

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
OPEN = set(Task.OPEN_STATUSES)


class Raw:
    """The raw rows, and every counted event as the reports define them, recomputed here in plain Python."""

    def __init__(self) -> None:
        self.tasks = {t.pk: t for t in Task.objects.all()}
        self.visits = defaultdict(list)
        for visit in StepInstance.objects.order_by("started_at", "id"):
            self.visits[visit.task_id].append(visit)
        self.holds = defaultdict(list)
        for held in Assignment.objects.order_by("assigned_at", "id"):
            self.holds[held.step_instance_id].append(held)
        self.role_of = dict(WorkflowStep.objects.values_list("pk", "role_id"))
        self.weight_of = {pk: float(w) for pk, w in WorkflowStep.objects.values_list("pk", "sla_weight")}
        self.events: list[tuple] = []  # (at, kind, workflow, step, user, priority, count, total)
        for task in self.tasks.values():
            self._task_events(task)
        for event in AuditEvent.objects.filter(action__in=["task.sla_warning", "task.sla_breached"]):
            task = self.tasks[uuid.UUID(event.entity_id)]
            at = event.occurred_at
            visit = self._visit_at(task, at)
            warned = event.action == "task.sla_warning"
            user = event.data.get("notified_user" if warned else "assigned_user")
            self._add(at, "warned" if warned else "breached", task, visit.step_id if visit else None, user)

    def _add(self, at, kind, task, step, user, total=0) -> None:
        self.events.append((at, kind, task.workflow_id, step, user, task.priority, 1, total))

    def _visit_at(self, task, at):
        found = [v for v in self.visits[task.pk] if v.started_at <= at and (v.ended_at is None or v.ended_at > at)]
        return found[-1] if found else None

    def _task_events(self, task) -> None:
        visits = self.visits[task.pk]
        self._add(task.created_at, "created", task, visits[0].step_id if visits else None, None)
        for visit in visits:
            for held in self.holds[visit.id]:
                self._add(held.assigned_at, "assigned", task, visit.step_id, held.user_id)
                extra = {"transfer": "transferred", "escalation": "escalated"}.get(held.reason)
                if extra:
                    self._add(held.assigned_at, extra, task, visit.step_id, held.user_id)
                if held.ended_at and (visit.ended_at is None or held.ended_at < visit.ended_at):
                    self._add(held.ended_at, "reassigned_away", task, visit.step_id, held.user_id)
            if visit.ended_at and visit.acted_by_id:
                self._add(visit.ended_at, "acted", task, visit.step_id, visit.acted_by_id)
            if visit.ended_at and visit.status == "escalated":
                self._add(visit.ended_at, "escalated", task, visit.step_id, visit.acted_by_id)
        if task.completed_at and task.status in ("completed", "rejected", "cancelled"):
            last = visits[-1] if visits else None
            ending = [h for h in self.holds[last.id] if h.ended_at == task.completed_at] if last else []
            step, user = (last.step_id if last else None), (ending[-1].user_id if ending else None)
            self._add(task.completed_at, task.status, task, step, user)
            if task.status != "cancelled" and task.completed_at <= task.sla_deadline:
                self._add(task.completed_at, "within_sla", task, step, user)
            if task.csat_rating is not None:
                self._add(task.completed_at, "rated", task, step, user, total=task.csat_rating)


def local_period(at: datetime, tz: str, interval: str) -> date:
    day = at.astimezone(ZoneInfo(tz)).date()
    return day - timedelta(days=day.weekday()) if interval == "week" else day


def percentile(values: list[float], share: float) -> float | None:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    if not values:
        return None
    values = sorted(values)
    position = share * (len(values) - 1)
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return round(values[low] + (values[high] - values[low]) * (position - low), 1)


def expected_counts(raw: Raw, f: dict, kinds: set[str]) -> dict:
    """group value -> kind -> [count, total] over the filtered events of the range."""
    zone = ZoneInfo(f["tz"])
    start = datetime.combine(f["from"], datetime.min.time(), zone)
    end = datetime.combine(f["to"] + timedelta(days=1), datetime.min.time(), zone)
    sums: dict = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for at, kind, workflow, step, user, priority, count, total in raw.events:
        role = raw.role_of.get(step)
        if kind not in kinds or not start <= at < end:
            continue
        if (f.get("workflow") not in (None, workflow) or f.get("role") not in (None, role)
                or f.get("agent") not in (None, user) or f.get("priority") not in (None, priority)):  # fmt: skip
            continue
        if f["group"] == "period":
            key = local_period(at, f["tz"], f["interval"]).isoformat()
        else:
            key = {"workflow": workflow, "step": step, "role": role, "agent": user, "priority": priority}[f["group"]]
        sums["" if key is None else str(key)][kind][0] += count
        sums["" if key is None else str(key)][kind][1] += total
    return sums


def check_throughput_and_sla(raw: Raw, f: dict, got_throughput: list[dict], got_sla: list[dict]) -> None:
    sums = expected_counts(raw, f, {"created", "assigned", "completed", "rejected", "cancelled", "escalated",
                                    "transferred", "reassigned_away", "breached", "warned", "rated", "within_sla"})  # fmt: skip
    for row in got_throughput:
        want = sums.get(row["key"], {})
        for kind in ("created", "assigned", "completed", "rejected", "cancelled", "escalated", "transferred",
                     "reassigned_away", "breached", "warned"):  # fmt: skip
            assert row[kind] == want.get(kind, [0, 0])[0], (f, row["key"], kind)
        count, total = want.get("rated", [0, 0])
        assert (row["csat_count"], row["csat_average"]) == (count, round(total / count, 2) if count else None)
    for row in got_sla:
        want = sums.get(row["key"], {})
        finished = want.get("completed", [0])[0] + want.get("rejected", [0])[0]
        assert (row["finished"], row["within_sla"], row["breached"]) == (
            finished, want.get("within_sla", [0])[0], want.get("breached", [0])[0]
        ), (f, row["key"])  # fmt: skip
    # Nothing counted was left out of the rows.
    listed = {row["key"] for row in got_throughput}
    assert {key for key, kinds in sums.items() if any(v[0] for k, v in kinds.items() if k != "within_sla")} <= listed


def check_agents(raw: Raw, f: dict, got: list[dict]) -> None:
    sums = expected_counts(raw, {**f, "group": "agent"}, {"assigned", "acted", "completed", "reassigned_away", "rated"})
    zone = ZoneInfo(f["tz"])
    start = datetime.combine(f["from"], datetime.min.time(), zone)
    end = datetime.combine(f["to"] + timedelta(days=1), datetime.min.time(), zone)
    waits = defaultdict(list)
    for task in raw.tasks.values():
        if f.get("workflow") not in (None, task.workflow_id) or f.get("priority") not in (None, task.priority):
            continue
        for visit in raw.visits[task.pk]:
            if not (visit.ended_at and visit.acted_by_id and start <= visit.ended_at < end):
                continue
            if f.get("role") not in (None, raw.role_of[visit.step_id]) or f.get("agent") not in (None, visit.acted_by_id):
                continue
            ended = [h for h in raw.holds[visit.id] if h.user_id == visit.acted_by_id and h.ended_at == visit.ended_at]
            if ended:  # the assignment the action ended (the latest, were there several)
                waits[visit.acted_by_id].append((visit.ended_at - ended[-1].assigned_at).total_seconds())
    open_now = Counter(
        t.assigned_user_id for t in raw.tasks.values()
        if t.status in OPEN and t.assigned_user_id
        and f.get("workflow") in (None, t.workflow_id) and f.get("priority") in (None, t.priority)
        and f.get("role") in (None, raw.role_of.get(t.current_step_id)) and f.get("agent") in (None, t.assigned_user_id)
    )  # fmt: skip
    users = {int(k) for k, kinds in sums.items() if k and any(v != [0, 0] for v in kinds.values())}
    users |= set(open_now) | set(waits)
    assert {row["user_id"] for row in got} == users, f
    for row in got:
        want = sums.get(str(row["user_id"]), {})
        count, total = want.get("rated", [0, 0])
        assert row == {
            "user_id": row["user_id"], "username": row["username"],
            "assigned": want.get("assigned", [0])[0], "acted": want.get("acted", [0])[0],
            "completed": want.get("completed", [0])[0], "open_now": open_now.get(row["user_id"], 0),
            "median_seconds_to_action": percentile(waits[row["user_id"]], 0.5),
            "p90_seconds_to_action": percentile(waits[row["user_id"]], 0.9),
            "reassigned_away": want.get("reassigned_away", [0])[0],
            "csat_count": count, "csat_average": round(total / count, 2) if count else None,
        }, f  # fmt: skip


def check_steps(raw: Raw, f: dict, got: list[dict]) -> None:
    zone = ZoneInfo(f["tz"])
    start = datetime.combine(f["from"], datetime.min.time(), zone)
    end = datetime.combine(f["to"] + timedelta(days=1), datetime.min.time(), zone)
    spent = defaultdict(list)
    used = defaultdict(list)
    for task in raw.tasks.values():
        if f.get("workflow") not in (None, task.workflow_id) or f.get("priority") not in (None, task.priority):
            continue
        for visit in raw.visits[task.pk]:
            if not (visit.ended_at and start <= visit.ended_at < end):
                continue
            if f.get("role") not in (None, raw.role_of[visit.step_id]) or f.get("agent") not in (None, visit.acted_by_id):
                continue
            seconds = (visit.ended_at - visit.started_at).total_seconds()
            spent[visit.step_id].append(seconds)
            used[visit.step_id].append(raw.weight_of[visit.step_id] * seconds / (visit.due_at - visit.started_at).total_seconds())
    breaches = expected_counts(raw, {**f, "group": "step"}, {"breached"})
    for row in got:
        values = spent.get(row["step_id"], [])
        assert (row["visits"], row["median_seconds"], row["p90_seconds"]) == (
            len(values), percentile(values, 0.5), percentile(values, 0.9)
        ), f  # fmt: skip
        if values:
            assert row["sla_used_percent"] == pytest.approx(sum(used[row["step_id"]]) / len(values), abs=0.051)
        assert row["breaches"] == breaches.get(str(row["step_id"]), {}).get("breached", [0])[0]
    assert {row["step_id"] for row in got} >= set(spent)


def check_backlog(raw: Raw, f: dict, got: dict) -> None:
    open_tasks = [
        t for t in raw.tasks.values()
        if t.status in OPEN and f.get("workflow") in (None, t.workflow_id) and f.get("priority") in (None, t.priority)
        and f.get("role") in (None, raw.role_of.get(t.current_step_id)) and f.get("agent") in (None, t.assigned_user_id)
    ]  # fmt: skip
    per_step = Counter(t.current_step_id for t in open_tasks)
    assert {row["step_id"]: row["total"] for row in got["by_age"]} == dict(per_step), f
    for row in got["by_age"]:
        assert sum(row[name] for name in ("age_lt_1d", "age_1_3d", "age_3_7d", "age_7_30d", "age_gt_30d")) == row["total"]
    oldest = sorted(open_tasks, key=lambda t: (t.created_at, t.task_id))[:50]
    assert [row["task_id"] for row in got["oldest"]] == [str(t.task_id) for t in oldest]


def test_reports_equal_a_brute_force_recomputation(transactional_db, monkeypatch):
    history.generate(tasks=5000, seed=16, now=NOW, chunk=5000)
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    raw = Raw()
    assert len(raw.tasks) == 5000 and any(e[1] == "rated" for e in raw.events) and any(e[1] == "breached" for e in raw.events)
    rng = random.Random(16)
    workflows = sorted({t.workflow_id for t in raw.tasks.values()})
    roles = sorted(set(raw.role_of.values()))
    agents = list(UserReplica.objects.filter(assignments__isnull=False).distinct().values_list("pk", flat=True))
    client = api_client(is_admin=True)
    seen = Counter()

    def draw() -> dict:
        last = NOW.date() - timedelta(days=rng.randrange(0, 400))
        f = {
            "from": last - timedelta(days=rng.choice([0, 6, 30, 90, 365])), "to": last,
            "tz": rng.choice(["UTC", "Asia/Manila", "America/New_York", "Asia/Kathmandu"]),
            "interval": rng.choice(["day", "week"]), "group": rng.choice(["period", "workflow", "step", "role", "agent", "priority"]),
        }  # fmt: skip
        for name, values in (("workflow", workflows), ("role", roles), ("agent", agents), ("priority", ["low", "medium", "high", "urgent"])):
            if rng.random() < 0.3:
                f[name] = rng.choice(values)
        return f

    # Local days that cut UTC days at half hours (Kolkata +5:30) or at hours that move (Sydney +10/+11, its daylight
    # saving starting on 2026-10-04 and ending on 2026-04-05 inside the ranges): read from the days' running sums.
    cut = [
        {"from": date(2026, 9, 20), "to": date(2026, 10, 20), "tz": "Australia/Sydney", "interval": "day", "group": "period"},
        {"from": date(2026, 3, 25), "to": date(2026, 4, 15), "tz": "Australia/Sydney", "interval": "week", "group": "period"},
        {"from": date(2026, 3, 30), "to": date(2026, 4, 9), "tz": "Australia/Sydney", "interval": "day", "group": "workflow", "role": roles[0]},
        {"from": date(2026, 6, 1), "to": date(2026, 8, 31), "tz": "Asia/Kolkata", "interval": "day", "group": "period"},
        {"from": date(2026, 11, 1), "to": date(2026, 11, 30), "tz": "Asia/Kolkata", "interval": "day", "group": "step", "priority": "high"},
    ]  # fmt: skip
    for f in [draw() for _ in range(12)] + cut:
        query = urlencode({k: v.isoformat() if isinstance(v, date) else v for k, v in f.items()})

        def get(report: str) -> dict:
            response = client.get(f"/reports/{report}/?{query}")  # noqa: B023
            assert response.status_code == 200, response.content
            return response.json()

        throughput, agents_rows = get("throughput")["rows"], get("agents")["rows"]
        check_throughput_and_sla(raw, f, throughput, get("sla")["rows"])
        check_agents(raw, f, agents_rows)
        check_steps(raw, f, get("steps")["rows"])
        check_backlog(raw, f, get("backlog"))
        seen.update(kind for row in throughput for kind in ("created", "completed", "breached", "csat_count") if row[kind])
        seen.update("timed" for row in agents_rows if row["median_seconds_to_action"] is not None)
    # The draws compared figures that were there to get wrong.
    assert min(seen[kind] for kind in ("created", "completed", "breached", "csat_count", "timed")) >= 1, seen
