"""Done-when on the real stack: a ticket published as HDTS does, ingested by a real worker onto a workflow with a
Mon–Fri 9–17 calendar, held and resumed through the HTTP API over a weekend (the pause's times then set explicitly,
rather than waited for), gets the deadline computed by hand; calendar changes through the API recompute it, the
pause included."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.conftest import wait_for
from tests.workflow_api.factories import two_step_setup
from tests.workflow_api.test_ingestion_queue import hdts, signed, start_engine, ticket  # noqa: F401 (fixtures)
from workflow_api.models import AuditEvent, StepInstance, Task, TaskPause

pytestmark = pytest.mark.django_db(transaction=True)

MANILA = ZoneInfo("Asia/Manila")
NINE_TO_FIVE = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def manila(day: int, hour: int) -> datetime:
    """The week of Fri 2026-11-20 (Mon 23, Tue 24, Wed 25), Manila."""
    return datetime(2026, 11, day, hour, tzinfo=MANILA)


def test_held_over_a_weekend_then_calendar_changes(hdts, start_engine, asgi_server, make_token):  # noqa: F811
    workflow, _ = two_step_setup()
    workflow.sla_high = timedelta(hours=16)  # an HDTS "medium" ticket: two business days
    workflow.save()
    server = asgi_server()
    start_engine(workers=1, concurrency=1)

    def call(method: str, path: str, token: str, body: dict | None = None) -> dict:
        response = requests.request(
            method, f"{server.url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert response.status_code < 300, response.text
        return response.json()

    admin = make_token(1, is_admin=True)
    calendar = call("POST", "/calendars/", admin, {"name": "Manila", "time_zone": "Asia/Manila", "weekly_hours": NINE_TO_FIVE})
    assert call("PATCH", f"/workflows/{workflow.pk}/", admin, {"calendar_id": calendar["id"]})["calendar_name"] == "Manila"

    hdts([signed(ticket("T-1", priority="medium", created_at=manila(20, 10).isoformat()))])
    task = wait_for(lambda: Task.objects.filter(external_ticket_id="T-1").first(), timeout=60, message="the ticket's task")
    assert task.sla_deadline == manila(24, 10)  # Fri 10–17, Mon 9–17, Tue 9–10

    agent = make_token(task.assigned_user_id)
    assert call("POST", f"/tasks/{task.pk}/actions/", agent, {"action": "hold", "notes": "waiting for parts"})["status"] == "on_hold"
    # Held on Friday at 15:00 (5 business hours used) ...
    TaskPause.objects.filter(task=task).update(started_at=manila(20, 15))
    resumed = call("POST", f"/tasks/{task.pk}/actions/", agent, {"action": "resume"})
    assert resumed["status"] == "in_progress" and len(resumed["pauses"]) == 1
    # ... and resumed on Monday at 11:00; the calendar, saved unchanged, recomputes from the pause log.
    TaskPause.objects.filter(task=task).update(ended_at=manila(23, 11))
    call("PATCH", f"/calendars/{calendar['id']}/", admin, {"weekly_hours": NINE_TO_FIVE})
    detail = call("GET", f"/tasks/{task.pk}/", admin)
    # 11 h left at Mon 11:00: Mon 11–17 (6 h) + Tue 9–14 (5 h).
    assert datetime.fromisoformat(detail["sla_deadline"]) == manila(24, 14)
    [pause] = detail["pauses"]
    assert pause["reason"] == "on_hold" and pause["notes"] == "waiting for parts"
    assert datetime.fromisoformat(pause["started_at"]) == manila(20, 15)

    # Tuesday becomes a holiday: Mon 11–17 (6 h) + Wed 9–14 (5 h).
    call("PATCH", f"/calendars/{calendar['id']}/", admin, {"holidays": ["2026-11-24"]})
    assert Task.objects.get(pk=task.pk).sla_deadline == manila(25, 14)
    # The step (8 h from intake at "now") is recomputed too, from the same log: never earlier than its start.
    step = StepInstance.objects.get(task=task, status="active")
    assert step.due_at > step.started_at
    # The same hours in another zone's terms (UTC 01:00–09:00 = Manila 09:00–17:00): the deadline stays put.
    hours_utc = {day: [["01:00", "09:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
    call("PATCH", f"/calendars/{calendar['id']}/", admin, {"time_zone": "UTC", "weekly_hours": hours_utc})
    assert Task.objects.get(pk=task.pk).sla_deadline == manila(25, 14)
    reasons = AuditEvent.objects.filter(action="task.sla_recomputed", ticket_id="T-1").order_by("id").values_list("data", flat=True)
    assert [datetime.fromisoformat(data["sla_deadline"]) for data in reasons] == [manila(24, 14), manila(25, 14)]
