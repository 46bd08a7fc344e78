"""SLA calendars: deadlines in business time (hand-computed), the pause log, recomputing open tasks when a calendar
or a workflow's SLA policy changes (markers re-armed), configurable warning thresholds, and the API (auth, 400s)."""
from __future__ import annotations

from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from tests.workflow_api.factories import api_client, ingested_task, two_step_setup
from tts_common.base.permissions import AGENT_DEFAULTS
from tts_common.http.auth import TokenUser
from workflow_api.models import AuditEvent, BusinessCalendar, StepInstance, Task, TaskPause, Workflow
from workflow_api.services import actions, calendars
from workflow_api.services.deadlines import task_deadline
from workflow_api.services.sla import ScanResult, sla_scan
from workflow_api.services.workflows import workflow_update

pytestmark = pytest.mark.django_db

MANILA = ZoneInfo("Asia/Manila")
NINE_TO_FIVE = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
ADMIN = TokenUser({"user_id": 1, "username": "admin", "is_admin": True, "roles": {}})


def manila(day: int, hour: int, month: int = 11) -> datetime:
    """A time in the week of Fri 2026-11-20 (Mon 23, Tue 24, Wed 25), Manila."""
    return datetime(2026, month, day, hour, tzinfo=MANILA)


@pytest.fixture
def office() -> BusinessCalendar:
    return BusinessCalendar.objects.create(name="Manila office", time_zone="Asia/Manila", weekly_hours=NINE_TO_FIVE)


@pytest.fixture
def setup(office) -> tuple[Workflow, dict]:
    """Two steps of 50 % each; an HDTS "medium" ticket is "high" here: 16 business hours (two days)."""
    workflow, users = two_step_setup()
    workflow.calendar = office
    workflow.sla_high = timedelta(hours=16)
    workflow.save()
    return workflow, users


@pytest.fixture
def clock(monkeypatch):
    """Set the engine's ``now``: ``clock(datetime)``."""

    def set_now(moment: datetime) -> None:
        monkeypatch.setattr(timezone, "now", lambda: moment)

    return set_now


def agent_of(task: Task) -> TokenUser:
    user = task.assigned_user
    claims = {"user_id": user.user_id, "username": user.username, "is_admin": False, "roles": {}}
    return TokenUser({**claims, "permissions": list(AGENT_DEFAULTS)})


def held_over_the_weekend(clock) -> Task:
    """Created Fri 10:00; held Fri 15:00 (5 business hours used), resumed Mon 11:00."""
    clock(manila(20, 10))
    task = ingested_task("T-1", created_at=manila(20, 10).isoformat())
    clock(manila(20, 15))
    actions.task_act(task_id=task.pk, actor=agent_of(task), action="hold", notes="waiting for the user")
    clock(manila(23, 11))
    actions.task_act(task_id=task.pk, actor=agent_of(task), action="resume")
    return Task.objects.get(pk=task.pk)


def test_a_ticket_gets_its_deadline_in_business_time(setup):
    # Fri 10–17 (7 h) + Mon 9–17 (8 h) + Tue 9–10 (1 h) = 16 h.
    task = ingested_task("T-1", created_at=manila(20, 10).isoformat())
    assert task.sla_deadline == manila(24, 10)
    assert (task.sla_next_warning_at, task.sla_next_warning_percent) == (manila(23, 9) + timedelta(hours=1), 50)


def test_held_over_a_weekend_gets_the_hand_computed_deadline(setup, clock):
    task = held_over_the_weekend(clock)
    # 11 h left at Mon 11:00: Mon 11–17 (6 h) + Tue 9–14 (5 h).
    assert task.sla_deadline == manila(24, 14)
    # Step 1 (8 h, from Fri 10:00): 5 h before the hold, 3 h after -> Mon 14:00. So is the 50 % warning.
    assert StepInstance.objects.get(task=task, status="active").due_at == manila(23, 14)
    assert (task.sla_next_warning_at, task.sla_next_warning_percent) == (manila(23, 14), 50)
    [pause] = TaskPause.objects.filter(task=task)
    assert (pause.reason, pause.notes, pause.started_at, pause.ended_at) == (
        "on_hold", "waiting for the user", manila(20, 15), manila(23, 11)
    )  # fmt: skip
    assert datetime.fromisoformat(AuditEvent.objects.get(action="task.resumed").data["sla_deadline"]) == manila(24, 14)


def test_one_deadline_function_for_everyone(setup):
    workflow, _ = setup
    assert task_deadline(workflow, "high", manila(20, 10)) == manila(24, 10)
    assert task_deadline(workflow, "high", manila(20, 10), [(manila(20, 15), manila(23, 11))]) == manila(24, 14)
    assert task_deadline(workflow, "high", manila(20, 10), share=0.5) == manila(23, 10)
    workflow.calendar = None
    assert task_deadline(workflow, "high", manila(20, 10)) == manila(21, 2)  # round the clock: + 16 h


def test_a_calendar_change_recomputes_open_tasks_pauses_included(setup, clock):
    workflow, _ = setup
    task = held_over_the_weekend(clock)
    closed = ingested_task("T-done", created_at=manila(20, 10).isoformat())
    Task.objects.filter(pk=closed.pk).update(status=Task.Status.COMPLETED)
    clock(manila(23, 12))

    calendars.calendar_update(calendar_id=workflow.calendar_id, actor=ADMIN, data={"holidays": [manila(24, 0).date()]})
    # Tuesday off: 6 h Monday after the hold, then Wed 9–14.
    assert Task.objects.get(pk=task.pk).sla_deadline == manila(25, 14)
    assert Task.objects.get(pk=closed.pk).sla_deadline == manila(24, 10)  # closed tasks keep theirs
    calendars.calendar_update(
        calendar_id=workflow.calendar_id, actor=ADMIN, data={"weekly_hours": {"mon": [["08:00", "18:00"]], "wed": [["08:00", "18:00"]]}}
    )
    # Only Mon and Wed, 8–18: nothing counts on Fri; after the hold (to Mon 11:00) Mon 11–18 (7 h), Tue off,
    # Wed 8–17 (9 h).
    assert Task.objects.get(pk=task.pk).sla_deadline == manila(25, 17)
    assert StepInstance.objects.get(task=task, status="active").due_at == manila(25, 9)  # 8 h: Mon 11–18, Wed 8–9
    events = AuditEvent.objects.filter(action="task.sla_recomputed", ticket_id="T-1").order_by("id")
    assert [datetime.fromisoformat(e.data["sla_deadline"]) for e in events] == [manila(25, 14), manila(25, 17)]
    assert AuditEvent.objects.filter(action="calendar.updated").count() == 2


def test_moving_a_deadline_rearms_breach_and_warnings(setup, office, clock, django_capture_on_commit_callbacks):
    workflow, _ = setup
    workflow.calendar = None  # round the clock: created Fri 10:00 + 16 h -> Sat 02:00
    workflow.save()
    late = ingested_task("T-late", created_at=manila(20, 10).isoformat())
    very_late = ingested_task("T-very-late", created_at=manila(16, 10).isoformat())
    clock(manila(23, 12))  # Monday noon: both breached round the clock
    with django_capture_on_commit_callbacks(execute=True):
        assert sla_scan(now=manila(23, 12)) == ScanResult(breached=2, escalated=2)

    workflow_update(workflow_id=workflow.pk, actor=ADMIN, data={"calendar_id": office.pk})
    late, very_late = Task.objects.get(pk=late.pk), Task.objects.get(pk=very_late.pk)
    # In business time T-late is due Tue 10:00: its breach is re-armed; the warnings already past (50 %, Mon 10:00)
    # are skipped, the next is 75 % (12 h: Fri 10–17, Mon 9–14).
    assert (late.sla_deadline, late.sla_breached_at) == (manila(24, 10), None)
    assert (late.sla_next_warning_at, late.sla_next_warning_percent) == (manila(23, 14), 75)
    assert AuditEvent.objects.get(action="task.sla_recomputed", ticket_id="T-late").data["breach_rearmed"] is True
    # T-very-late (Mon 16th) stays breached: due Wed 18th in business time, still past.
    assert very_late.sla_breached_at is not None and very_late.sla_deadline == manila(18, 10)
    with django_capture_on_commit_callbacks(execute=True):
        # 75 % and 90 % (Mon 16:24) both passed by 17:00: one warning, naming 90 %.
        assert sla_scan(now=manila(23, 17)) == ScanResult(warned=1)
        assert AuditEvent.objects.get(action="task.sla_warning").data["threshold"] == 90
        assert sla_scan(now=manila(24, 10)).breached == 1  # breached again, at the new deadline


def test_thresholds_are_per_workflow_each_sent_once(setup, django_capture_on_commit_callbacks):
    workflow, _ = setup
    workflow.calendar = None
    workflow.sla_warning_thresholds = [25, 60]
    workflow.save()
    created = timezone.now() - timedelta(hours=5)  # 31 % of 16 h
    task = ingested_task("T-1", created_at=created.isoformat())
    assert task.sla_next_warning_percent == 25
    with django_capture_on_commit_callbacks(execute=True):
        assert sla_scan() == ScanResult(warned=1)
        assert sla_scan() == ScanResult()
        assert sla_scan(now=created + timedelta(hours=10)) == ScanResult(warned=1)
        assert sla_scan(now=created + timedelta(hours=15)) == ScanResult()  # no 90 % here
    thresholds = [e.data["threshold"] for e in AuditEvent.objects.filter(action="task.sla_warning").order_by("id")]
    assert thresholds == [25, 60]
    assert Task.objects.get(pk=task.pk).sla_next_warning_at is None


# --- API --------------------------------------------------------------------------------------------------------------
def test_calendar_api_crud_and_auth(setup):
    workflow, users = setup
    admin, agent = api_client(is_admin=True), api_client(users["agents"][0])
    body = {"name": "Cebu", "time_zone": "Asia/Manila", "weekly_hours": NINE_TO_FIVE, "holidays": ["2026-12-25"]}
    assert APIClient().get("/calendars/").status_code == 401
    assert agent.post("/calendars/", body, format="json").status_code == 403
    created = admin.post("/calendars/", body, format="json")
    assert created.status_code == 201 and created.json()["holidays"] == ["2026-12-25"]
    calendar_id = created.json()["id"]
    assert {c["name"] for c in agent.get("/calendars/").json()["results"]} == {"Cebu", "Manila office"}
    assert agent.patch(f"/calendars/{calendar_id}/", {"holidays": []}, format="json").status_code == 403
    patched = admin.patch(f"/calendars/{calendar_id}/", {"holidays": ["2027-01-01", "2026-12-30"]}, format="json")
    assert patched.status_code == 200 and patched.json()["holidays"] == ["2026-12-30", "2027-01-01"]
    assert admin.delete(f"/calendars/{workflow.calendar_id}/").status_code == 409  # in use
    assert admin.delete(f"/calendars/{calendar_id}/").status_code == 204
    assert admin.get(f"/calendars/{calendar_id}/").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"weekly_hours": {"mon": [["09:00", "08:00"]]}}, "weekly_hours"),
        ({"weekly_hours": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}}, "weekly_hours"),
        ({"weekly_hours": {"funday": [["09:00", "12:00"]]}}, "weekly_hours"),
        ({"weekly_hours": {"mon": [["9am", "5pm"]]}}, "weekly_hours"),
        ({"weekly_hours": {}}, "weekly_hours"),
        ({"weekly_hours": {"mon": [["09:00"]]}}, "weekly_hours"),
        ({"holidays": ["not a date"]}, "holidays"),
        ({"name": "Manila office"}, "name"),
    ],
)
def test_calendar_api_rejects_bad_input(setup, change, field):
    body = {"name": "Other", "time_zone": "Asia/Manila", "weekly_hours": NINE_TO_FIVE, **change}
    response = api_client(is_admin=True).post("/calendars/", body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"], response.json()


def test_workflow_sla_policy_api(setup, office):
    workflow, users = setup
    admin = api_client(is_admin=True)
    task = ingested_task("T-1", created_at=manila(20, 10).isoformat())
    shown = admin.get(f"/workflows/{workflow.pk}/").json()
    assert (shown["calendar_id"], shown["calendar_name"], shown["sla_warning_thresholds"]) == (office.pk, "Manila office", [50, 75, 90])
    copy = admin.post(f"/workflows/{workflow.pk}/new-version/").json()  # new versions keep the policy
    assert (copy["calendar_id"], copy["sla_warning_thresholds"]) == (office.pk, [50, 75, 90])
    # A deployed workflow takes its SLA policy, not other changes.
    assert admin.patch(f"/workflows/{workflow.pk}/", {"name": "x"}, format="json").status_code == 409
    for bad in ({"calendar_id": 999999}, {"sla_warning_thresholds": [90, 50]}, {"sla_warning_thresholds": [0]}):
        response = admin.patch(f"/workflows/{workflow.pk}/", bad, format="json")
        assert response.status_code == 400 and set(bad) <= set(response.json()["errors"]), response.json()
    assert api_client(users["agents"][0]).patch(f"/workflows/{workflow.pk}/", {"calendar_id": None}, format="json").status_code == 403
    response = admin.patch(f"/workflows/{workflow.pk}/", {"calendar_id": None, "sla_warning_thresholds": [80]}, format="json")
    assert response.status_code == 200 and response.json()["calendar_id"] is None
    task = Task.objects.get(pk=task.pk)
    assert task.sla_deadline == manila(21, 2)  # round the clock now
    assert task.sla_next_warning_percent is None  # 80 % (Fri 22:48) is long past
    detail = admin.get(f"/tasks/{task.pk}/").json()
    assert detail["pauses"] == [] and "sla_next_warning_at" in detail


def test_recompute_command_is_idempotent(setup, office):
    task = ingested_task("T-1", created_at=manila(20, 10).isoformat())
    Task.objects.filter(pk=task.pk).update(sla_deadline=manila(20, 11))  # as if an interrupted recompute left it
    out = StringIO()
    call_command("recompute_sla", stdout=out)
    assert out.getvalue().strip() == "1 deadline(s) moved"
    assert Task.objects.get(pk=task.pk).sla_deadline == manila(24, 10)
    call_command("recompute_sla", "--workflow", str(task.workflow_id), stdout=out)
    assert out.getvalue().strip().endswith("0 deadline(s) moved")


def test_calendar_errors_name_the_weekday_and_nothing_is_stored(setup, office):
    """An overlapping or reversed window is refused with its message under its weekday (the calendar page shows
    each next to its day); neither a create nor an update stores anything."""
    admin = api_client(is_admin=True)
    hours = NINE_TO_FIVE | {"tue": [["12:00", "17:00"], ["09:00", "13:00"]], "sat": [["10:00", "09:00"]]}
    body = {"name": "Overlapping", "time_zone": "Asia/Manila", "weekly_hours": hours}
    response = admin.post("/calendars/", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"]["weekly_hours"] == {
        "tue": ["12:00–17:00 overlaps 09:00–13:00."],
        "sat": ["10:00–09:00 does not end after it starts."],
    }
    assert not BusinessCalendar.objects.filter(name="Overlapping").exists()
    response = admin.put(f"/calendars/{office.pk}/", body | {"name": "Renamed"}, format="json")
    assert response.status_code == 400 and set(response.json()["errors"]["weekly_hours"]) == {"tue", "sat"}
    office.refresh_from_db()
    assert (office.name, office.weekly_hours) == ("Manila office", NINE_TO_FIVE)
    unknown = admin.patch(f"/calendars/{office.pk}/", {"weekly_hours": {"mon": [["9am", "17:00"]]}}, format="json")
    assert unknown.json()["errors"]["weekly_hours"] == {"mon": ["'9am' is not HH:MM."]}


def test_calendars_list_the_workflows_that_use_them(setup, office):
    workflow, users = setup
    admin, agent = api_client(is_admin=True), api_client(users["agents"][0])
    copy = admin.post(f"/workflows/{workflow.pk}/new-version/").json()
    spare = admin.post("/calendars/", {"name": "Spare", "time_zone": "UTC", "weekly_hours": NINE_TO_FIVE}, format="json")
    listed = {c["name"]: c["workflows"] for c in agent.get("/calendars/").json()["results"]}
    assert listed["Spare"] == [] and spare.json()["workflows"] == []
    assert [(w["id"], w["version"], w["status"]) for w in listed["Manila office"]] == [
        (copy["id"], copy["version"], "draft"),
        (workflow.pk, workflow.version, "deployed"),
    ]
    assert admin.get(f"/calendars/{office.pk}/").json()["workflows"][1]["name"] == workflow.name
