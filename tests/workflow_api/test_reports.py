"""Reports on a hand-built history (business calendar, a hold, a transfer, a breach and its escalation, an escalation
by hand, a warning, an HDTS close with a CSAT rating): every figure computed by hand below. The rollups equal the
raw rows' recomputation before and after folding; access by scope; CSV; bad input."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.workflow_api.factories import api_client, ingested_task, two_step_setup
from tts_common.base.permissions import AGENT_DEFAULTS
from tts_common.http.auth import TokenUser
from workflow_api.models import BusinessCalendar, ReportDelta, RoleSettings, StepInstance, Task, UserReplica
from workflow_api.services import actions
from workflow_api.services.hdts_status import HdtsStatus, apply_statuses
from workflow_api.services.reports import fold_report_deltas, rollup_differences
from workflow_api.services.sla import sla_scan

pytestmark = pytest.mark.django_db

MANILA = ZoneInfo("Asia/Manila")
NINE_TO_FIVE = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
RANGE = "from=2026-11-20&to=2026-11-25&tz=Asia/Manila"
HOUR = 3600.0


def manila(day: int, hour: int, minute: int = 0) -> datetime:
    """Fri 2026-11-20, Mon 23, Tue 24, Wed 25, Manila time."""
    return datetime(2026, 11, day, hour, minute, tzinfo=MANILA)


def as_user(user: UserReplica | None) -> TokenUser:
    if user is None:
        return TokenUser({"user_id": 1, "username": "admin", "is_admin": True, "roles": {}})
    claims = {"user_id": user.user_id, "username": user.username, "is_admin": False, "roles": {}}
    return TokenUser({**claims, "permissions": list(AGENT_DEFAULTS)})


class History:
    """T1: made Fri 10:00, held Fri 15:00 - Mon 11:00, transferred Mon 12:00, step 1 approved Mon 13:00, step 2
    approved Tue 13:00: completed by its deadline (Tue 14:00, the hold given back), though four days passed.
    T2: made Mon 09:00 (due Tue 17:00), breached at the Wed 10:00 scan and escalated to its owner, who rejects it
    Wed 11:00. T3: made Tue 09:00 (due Wed 17:00), warned at the Wed 10:00 scan (56 % used), escalated by hand
    Wed 10:30 to its owner; still open. T4: made Wed 07:00 Manila (Tue 23:00 UTC), closed by HDTS Wed 12:00 with a
    CSAT rating of 4."""

    def __init__(self, clock) -> None:
        self.workflow, self.users = two_step_setup()
        self.workflow.calendar = BusinessCalendar.objects.create(
            name="Manila office", time_zone="Asia/Manila", weekly_hours=NINE_TO_FIVE
        )
        self.workflow.sla_high = timedelta(hours=16)  # HDTS "medium" is "high" here
        self.workflow.save()
        clock(manila(20, 10))
        t1 = ingested_task("T1", created_at=manila(20, 10).isoformat())
        self.t1_first = t1.assigned_user
        clock(manila(20, 15))
        self.act(t1, "hold")
        clock(manila(23, 9))
        t2 = ingested_task("T2", created_at=manila(23, 9).isoformat())
        self.t2_first = t2.assigned_user
        clock(manila(23, 11))
        self.act(t1, "resume")
        clock(manila(23, 12))
        self.t1_second = self.t2_first  # round-robin gave T2 to another agent than T1
        assert self.t1_second != self.t1_first
        self.act(t1, "transfer", to_user=self.t1_second.pk)
        clock(manila(23, 13))
        self.act(t1, "approve")
        self.engineer = Task.objects.get(pk=t1.pk).assigned_user
        clock(manila(24, 9))
        t3 = ingested_task("T3", created_at=manila(24, 9).isoformat())
        self.t3_first = t3.assigned_user
        clock(manila(24, 13))
        self.act(t1, "approve")
        clock(manila(25, 7))
        t4 = ingested_task("T4", created_at=manila(25, 7).isoformat())
        self.t4_holder = t4.assigned_user
        clock(manila(25, 10))
        sla_scan()
        t2 = Task.objects.get(pk=t2.pk)
        self.t2_owner = t2.owner
        assert t2.assigned_user == t2.owner and t2.sla_breached_at == manila(25, 10)
        clock(manila(25, 10, 30))
        self.act(t3, "escalate")
        clock(manila(25, 11))
        self.act(t2, "reject")
        clock(manila(25, 12))
        apply_statuses([HdtsStatus("T4", "Closed", {"ticket_number": "T4", "status": "Closed", "csat_rating": 4})])
        clock(manila(25, 13))
        self.t1, self.t2, self.t3, self.t4 = (Task.objects.get(external_ticket_id=f"T{i}") for i in range(1, 5))

    def act(self, task: Task, action: str, **body) -> None:
        holder = Task.objects.select_related("assigned_user").get(pk=task.pk).assigned_user
        actions.task_act(task_id=task.pk, actor=as_user(holder), action=action, **body)


@pytest.fixture
def clock(monkeypatch):
    def set_now(moment: datetime) -> None:
        monkeypatch.setattr(timezone, "now", lambda: moment)

    return set_now


@pytest.fixture
def history(clock) -> History:
    return History(clock)


def get(path: str, user: UserReplica | None = None, **headers) -> dict:
    response = api_client(user, is_admin=user is None).get(path, **headers)
    assert response.status_code == 200, response.content
    return response.json() if response["Content-Type"].startswith("application/json") else response.content.decode()


def by_key(rows: list[dict]) -> dict[str, dict]:
    return {row["key"]: row for row in rows}


def nonzero(row: dict, *columns: str) -> dict:
    return {column: row[column] for column in columns if row[column]}


COUNTS = ("created", "assigned", "completed", "rejected", "cancelled", "escalated", "transferred", "reassigned_away",
          "breached", "warned", "csat_count")  # fmt: skip


def test_hand_built_history_figures(history):
    assert history.t1.status == "completed" and history.t1.completed_at <= history.t1.sla_deadline == manila(24, 14)
    for folded in (False, True):
        assert rollup_differences() == {}
        rows = by_key(get(f"/reports/throughput/?{RANGE}")["rows"])
        assert list(rows) == [f"2026-11-{day}" for day in range(20, 26)]
        assert {day: nonzero(row, *COUNTS) for day, row in rows.items()} == {
            "2026-11-20": {"created": 1, "assigned": 1},
            "2026-11-21": {},
            "2026-11-22": {},
            # T2 made and assigned; T1 transferred (assigned to the second agent, away from the first), then to step 2.
            "2026-11-23": {"created": 1, "assigned": 3, "transferred": 1, "reassigned_away": 1},
            "2026-11-24": {"created": 1, "assigned": 1, "completed": 1},
            # T4 made; T2 breached, escalated (assigned to its owner); T3 warned, escalated; T2 rejected; T4 closed.
            "2026-11-25": {
                "created": 1, "assigned": 3, "completed": 1, "rejected": 1, "escalated": 2, "reassigned_away": 2,
                "breached": 1, "warned": 1, "csat_count": 1,
            },
        }  # fmt: skip
        assert rows["2026-11-25"]["csat_average"] == 4.0 and rows["2026-11-24"]["csat_average"] is None
        # In UTC T4 was made on Tue 24 (23:00), and T1's made Fri 02:00 UTC stays on the 20th.
        utc = by_key(get("/reports/throughput/?from=2026-11-20&to=2026-11-25&tz=UTC")["rows"])
        assert (utc["2026-11-24"]["created"], utc["2026-11-25"]["created"]) == (2, 0)
        weekly = get(f"/reports/throughput/?{RANGE}&interval=week")["rows"]
        assert [(row["key"], row["created"]) for row in weekly] == [("2026-11-16", 1), ("2026-11-23", 3)]

        sla = get(f"/reports/sla/?{RANGE}")
        figures = {row["key"]: (row["finished"], row["within_sla"], row["within_sla_percent"], row["breached"], row["warned"])
                   for row in sla["rows"] if row["finished"] or row["breached"] or row["warned"]}  # fmt: skip
        # T1 by its deadline thanks to the calendar and the hold; T2 rejected late; T4 closed in time.
        assert figures == {"2026-11-24": (1, 1, 100.0, 0, 0), "2026-11-25": (2, 1, 50.0, 1, 1)}
        [at_risk] = sla["at_risk"]  # T3: warned, open, due Wed 17:00, 4 hours left at 13:00
        assert (at_risk["ticket_id"], at_risk["seconds_left"]) == ("T3", 4 * 3600)
        by_priority = get(f"/reports/sla/?{RANGE}&group=priority")["rows"]
        assert [(row["key"], row["finished"], row["within_sla"]) for row in by_priority] == [("high", 3, 2)]

        steps = {row["step"]: row for row in get(f"/reports/steps/?{RANGE}")["rows"]}
        # Step 1 visits: T1 Fri 10:00 - Mon 13:00 (75 h), T2 Mon 09:00 - Wed 11:00 (50 h), T4 Wed 07:00 - 12:00 (5 h).
        assert (steps["Step 1"]["visits"], steps["Step 1"]["median_seconds"], steps["Step 1"]["p90_seconds"]) == (
            3, 50 * HOUR, 70 * HOUR  # p90 of 5, 50, 75: 50 + 0.8 × 25
        )  # fmt: skip
        assert (steps["Step 2"]["visits"], steps["Step 2"]["median_seconds"], steps["Step 2"]["breaches"]) == (1, 24 * HOUR, 0)
        assert steps["Step 1"]["breaches"] == 1 and steps["Step 1"]["sla_weight_percent"] == 50.0

        agents = {row["user_id"]: row for row in get(f"/reports/agents/?{RANGE}")["rows"]}
        second, owner = agents[history.t1_second.pk], agents[history.t2_owner.pk]
        # T2 at intake, T1 by transfer; acted on T1 an hour later; T2 escalated away from them at its breach.
        assert (second["assigned"], second["acted"], second["median_seconds_to_action"], second["reassigned_away"]) == (
            2, 1, HOUR, 1
        )  # fmt: skip
        assert (agents[history.t1_first.pk]["reassigned_away"], agents[history.t1_first.pk]["acted"]) == (1, 0)
        assert (owner["acted"], owner["median_seconds_to_action"]) == (1, HOUR)  # rejected T2 an hour after the breach
        assert agents[history.engineer.pk]["completed"] == 1 and agents[history.engineer.pk]["median_seconds_to_action"] == 24 * HOUR
        assert (agents[history.t4_holder.pk]["csat_count"], agents[history.t4_holder.pk]["csat_average"]) == (1, 4.0)
        assert agents[history.t3.assigned_user_id]["open_now"] == 1
        # The priority filter reads the visits' own copy of it (every task here is "high").
        high = f"{RANGE}&priority=high"
        assert get(f"/reports/steps/?{high}")["rows"] == get(f"/reports/steps/?{RANGE}")["rows"]
        assert get(f"/reports/agents/?{high}")["rows"] == get(f"/reports/agents/?{RANGE}")["rows"]
        assert get(f"/reports/steps/?{RANGE}&priority=low")["rows"] == []
        assert not any(row["median_seconds_to_action"] for row in get(f"/reports/agents/?{RANGE}&priority=low")["rows"])

        backlog = get(f"/reports/backlog/?{RANGE}")
        # T3, made Tue 09:00, 28 hours old at Wed 13:00, at step 1.
        assert [(row["step"], row["total"], row["age_1_3d"]) for row in backlog["by_age"]] == [("Step 1", 1, 1)]
        assert [(row["ticket_id"], row["age_seconds"]) for row in backlog["oldest"]] == [("T3", 28 * 3600)]
        if not folded:
            assert ReportDelta.objects.exists()
            fold_report_deltas(batch_size=7)  # several batches
            assert not ReportDelta.objects.exists()
    out = StringIO()
    call_command("reports_check", stdout=out)
    assert "0 bucket(s), half hour(s) or day(s) differ" in out.getvalue()


def test_closed_visits_keep_their_report_figures(history):
    """What close_active_step stores on a visit, the agents' and steps' medians read (selectors.reports)."""
    visits = {
        (visit.task.external_ticket_id, visit.step.name): visit
        for visit in StepInstance.objects.select_related("task", "step").exclude(ended_at=None)
    }
    t1_step1, t2_step1, t4_step1 = visits["T1", "Step 1"], visits["T2", "Step 1"], visits["T4", "Step 1"]
    # T1: transferred Mon 12:00 to the agent who approved it at 13:00; T2: escalated to its owner at its breach (Wed
    # 10:00), who rejected it at 11:00; T4: closed in HDTS, by no one.
    assert (t1_step1.acted_by_id, t1_step1.acted_assigned_at) == (history.t1_second.pk, manila(23, 12))
    assert (t2_step1.acted_by_id, t2_step1.acted_assigned_at) == (history.t2_owner.pk, manila(25, 10))
    assert (t4_step1.acted_by_id, t4_step1.acted_assigned_at) == (None, None)
    for visit in visits.values():
        spent = (visit.ended_at - visit.started_at).total_seconds()
        assert visit.priority == visit.task.priority == "high"
        assert visit.seconds_spent == spent == pytest.approx(visit.due_used * (visit.due_at - visit.started_at).total_seconds())
    assert t1_step1.seconds_spent == 75 * HOUR


def test_an_action_by_someone_not_holding_the_task_times_nothing(history):
    holder = Task.objects.get(pk=history.t3.pk).assigned_user_id
    admin = as_user(None)
    assert holder is not None and holder != admin.id
    actions.task_act(task_id=history.t3.pk, actor=admin, action="approve")
    visit = StepInstance.objects.get(task=history.t3, step__name="Step 1")
    assert (visit.status, visit.acted_by_id, visit.acted_assigned_at) == ("approved", admin.id, None)
    assert visit.seconds_spent is not None and visit.priority == "high"


def test_scopes_lead_and_agent(history):
    engineers = history.engineer.roles.get().role
    lead = history.users["coordinators"][1]
    RoleSettings.objects.create(role=engineers, lead_user=lead, updated_at=timezone.now())
    # The lead sees the engineers' step only: T1 assigned at step 2 (Mon), acted and completed there (Tue).
    rows = by_key(get(f"/reports/throughput/?{RANGE}", lead)["rows"])
    assert {day: nonzero(row, *COUNTS) for day, row in rows.items() if nonzero(row, *COUNTS)} == {
        "2026-11-23": {"assigned": 1},
        "2026-11-24": {"completed": 1},
    }
    assert [row["user_id"] for row in get(f"/reports/agents/?{RANGE}", lead)["rows"]] == [history.engineer.pk]
    # An agent sees their own figures only, whatever they filter on.
    second = history.t1_second
    agents = get(f"/reports/agents/?{RANGE}", second)["rows"]
    assert [row["user_id"] for row in agents] == [second.pk]
    assert get(f"/reports/agents/?{RANGE}&agent={history.engineer.pk}", second)["rows"] == []
    assert get(f"/reports/backlog/?{RANGE}", second) == {"by_age": [], "oldest": []}


def test_csv_same_rows_and_neutralised(history):
    history.workflow.name = "=HYPERLINK(1)"
    history.workflow.save()
    text = get(f"/reports/throughput/?{RANGE}&group=workflow&format=csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["label"] == "'=HYPERLINK(1) v1" and rows[0]["created"] == "4"
    json_rows = get(f"/reports/throughput/?{RANGE}&group=workflow")["rows"]
    assert list(rows[0]) == list(json_rows[0])
    accepted = get(f"/reports/backlog/?{RANGE}&table=oldest", HTTP_ACCEPT="text/csv")
    [oldest] = list(csv.DictReader(io.StringIO(accepted)))
    assert (oldest["ticket_id"], oldest["age_seconds"]) == ("T3", str(28 * 3600))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-11-26&to=2026-11-25", "from"),
        ("from=2024-01-01&to=2026-01-02", "to"),
        ("tz=Mars/Olympus", "tz"),
        ("workflow=999999", "workflow"),
        ("role=999999", "role"),
        ("agent=999999", "agent"),
        ("interval=month", "interval"),
        ("format=xml", "format"),
        ("table=nope", "table"),
        ("from=0001-01-01", "from"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(query, field):
    for accept in ({}, {"HTTP_ACCEPT": "text/csv"}):
        response = api_client(is_admin=True).get(f"/reports/sla/?{query}", **accept)
        assert response.status_code == 400, response.content
        assert response["Content-Type"].startswith("application/json")
        assert field in response.json()["errors"]


def test_reports_need_a_login():
    from rest_framework.test import APIClient

    assert APIClient().get("/reports/sla/").status_code == 401
