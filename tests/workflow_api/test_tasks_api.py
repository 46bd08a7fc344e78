"""/tasks/: visibility, filters, ordering, query counts, detail, manual creation."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.workflow_api.factories import UserFactory, api_client, ingested_task, two_step_setup
from workflow_api.models import AuditEvent, Task, UnroutedTicket

pytestmark = pytest.mark.django_db

TASK_KEYS = {
    "task_id", "workflow_id", "external_ticket_id", "title", "description", "priority", "status", "current_step",
    "assigned_user", "sla_deadline", "created_at",
}  # fmt: skip (DESIGN §5)


@pytest.fixture
def setup():
    return two_step_setup()


@pytest.fixture
def admin():
    return api_client(is_admin=True)


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"count", "count_is_estimate", "next", "previous", "results"}
    return body["results"]


def ids(response) -> list[str]:
    return [row["external_ticket_id"] for row in results(response)]


def test_agents_see_their_tasks_admins_see_all(setup, admin):
    workflow, users = setup
    tasks = [ingested_task(f"T-{i}") for i in range(3)]  # one per agent (round-robin)
    agent = tasks[0].assigned_user
    assert ids(api_client(agent).get("/tasks/")) == ["T-0"]
    assert sorted(ids(admin.get("/tasks/"))) == ["T-0", "T-1", "T-2"]
    owner = tasks[0].owner  # coordinators own the tasks they coordinate
    assert "T-0" in ids(api_client(owner).get("/tasks/"))
    assert ids(api_client(UserFactory()).get("/tasks/")) == []
    # Someone else's task is "not found", not "forbidden": its existence is not revealed.
    response = api_client(agent).get(f"/tasks/{tasks[1].task_id}/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_representation(setup, admin):
    _, users = setup
    task = ingested_task("T-1", priority="high", description="Router down", requester_email="a@example.com")
    row = results(admin.get("/tasks/"))[0]
    assert TASK_KEYS <= set(row)
    assert row["task_id"] == str(task.task_id) and row["workflow_id"] == task.workflow_id
    assert row["priority"] == "urgent" and row["status"] == "in_progress"  # HDTS high -> internal urgent
    assert row["current_step"] == task.current_step_id and row["current_step_name"] == "Step 1"
    assert row["role_name"] == "Agent" and row["assigned_user"] == task.assigned_user_id
    assert row["owner"] == task.owner_id and row["sla_state"] == "ok"

    detail = api_client(task.assigned_user).get(f"/tasks/{task.task_id}/").json()
    assert detail["ticket_data"]["requester_email"] == "a@example.com"
    [step] = detail["step_history"]
    assert step["step_name"] == "Step 1" and step["status"] == "active" and step["due_at"] and step["acted_by"] is None
    [assignment] = detail["assignments"]
    assert assignment["user_id"] == task.assigned_user_id and assignment["reason"] == "round_robin"
    assert assignment["ended_at"] is None


def test_filters(setup, admin):
    workflow, users = setup
    a, b, c = (ingested_task(f"T-{i}", priority=p) for i, p in enumerate(["low", "medium", "high"]))
    now = timezone.now()
    # SLA states: a breached, b at 80 % of its SLA, c fresh.
    Task.objects.filter(pk=a.pk).update(ticket_created_at=now - timedelta(hours=10), sla_deadline=now - timedelta(hours=1))
    Task.objects.filter(pk=b.pk).update(ticket_created_at=now - timedelta(hours=8), sla_deadline=now + timedelta(hours=2))
    Task.objects.filter(pk=c.pk).update(status=Task.Status.ON_HOLD)

    assert ids(admin.get("/tasks/?sla_state=breached")) == ["T-0"]
    assert ids(admin.get("/tasks/?sla_state=warning")) == ["T-1"]
    assert ids(admin.get("/tasks/?sla_state=ok")) == ["T-2"]
    assert ids(admin.get("/tasks/?status=on_hold")) == ["T-2"]
    assert sorted(ids(admin.get("/tasks/?status=in_progress&status=on_hold"))) == ["T-0", "T-1", "T-2"]
    assert ids(admin.get("/tasks/?priority=medium")) == ["T-0"]  # HDTS low -> medium
    assert ids(admin.get("/tasks/?external_ticket_id=T-1")) == ["T-1"]
    assert ids(admin.get(f"/tasks/?assigned_user={b.assigned_user_id}")) == ["T-1"]
    role_id = workflow.steps.get(order=1).role_id
    assert len(ids(admin.get(f"/tasks/?role={role_id}"))) == 3
    assert len(ids(admin.get("/tasks/?role=agent"))) == 3
    assert ids(admin.get("/tasks/?role=Engineer")) == []
    assert ids(admin.get(f"/tasks/?workflow={workflow.pk}&ordering=priority")) == ["T-0", "T-1", "T-2"]
    assert ids(admin.get("/tasks/?ordering=-priority")) == ["T-2", "T-1", "T-0"]
    assert ids(admin.get("/tasks/?ordering=sla_deadline")) == ["T-0", "T-1", "T-2"]
    assert ids(admin.get("/tasks/?workflow=999999")) == []

    mine = api_client(b.assigned_user).get("/tasks/?mine=true")
    assert ids(mine) == ["T-1"]
    assert sorted(ids(api_client(a.owner).get("/tasks/?mine=1"))) == sorted(
        t.external_ticket_id for t in (a, b, c) if t.owner_id == a.owner_id
    )


def test_mine_is_what_an_agent_is_assigned_or_owns_not_all_they_held(setup):
    """``?mine=true`` leaves an agent's visible history out of the query (every task in it is visible): a task they
    held and that is now someone else's is in their list, not in their queue."""
    tasks = [ingested_task(f"T-{i}") for i in range(4)]  # round-robin over three agents: T-0 and T-3 to one
    held, kept = tasks[0], tasks[3]
    agent = held.assigned_user
    assert kept.assigned_user == agent
    Task.objects.filter(pk=held.pk).update(assigned_user=UserFactory())  # moved on, as a transfer does
    as_agent = api_client(agent)
    assert sorted(ids(as_agent.get("/tasks/"))) == ["T-0", "T-3"]
    open_statuses = "&".join(f"status={status}" for status in Task.OPEN_STATUSES)
    with CaptureQueriesContext(connection) as statements:
        queue = as_agent.get(f"/tasks/?mine=true&ordering=sla_deadline&cursor=&{open_statuses}")
    assert ids(queue) == ["T-3"] and queue.json()["count"] == 1
    assert not [s for s in statements if "held_or_owned" in s["sql"]]  # the history is not read


def test_a_list_ending_on_its_page_is_counted_by_the_page(setup, admin):
    """No count statement when the page asked is the list's last and the rows before it are known (an offset page,
    a first keyset page); one when the list goes on past the page."""
    for i in range(3):
        ingested_task(f"T-{i}")

    def counted(path: str) -> tuple[int, bool]:
        with CaptureQueriesContext(connection) as statements:
            body = admin.get(path).json()
        counts = [s["sql"] for s in statements if s["sql"].startswith(("SELECT COUNT", "EXPLAIN"))]
        return body["count"], bool(counts)

    assert counted("/tasks/") == (3, False)
    assert counted("/tasks/?cursor=") == (3, False)
    assert counted("/tasks/?page_size=2&page=2") == (3, False)
    assert counted("/tasks/?page_size=2") == (3, True)
    assert counted("/tasks/?page_size=3") == (3, False)


@pytest.mark.parametrize(
    "query", ["status=bogus", "priority=extreme", "sla_state=late", "ordering=title", "workflow=x", "assigned_user=y"]
)
def test_bad_filters_are_400(setup, admin, query):
    response = admin.get(f"/tasks/?{query}")
    assert response.status_code == 400 and response.json()["errors"], response.content



def test_day_filters_cut_local_days_of_tz(setup, admin):
    """created_/closed_/breached_ from and to: whole days of ``tz`` (default UTC), as the reports count them."""
    a, b, c = (ingested_task(f"T-{i}") for i in range(3))
    utc = lambda text: datetime.fromisoformat(text)  # noqa: E731
    # Asia/Manila is UTC+8: its 10 November runs from 9 November 16:00 UTC to 10 November 16:00 UTC.
    Task.objects.filter(pk=a.pk).update(created_at=utc("2026-11-09T15:59:59+00:00"), status=Task.Status.COMPLETED,
                                        completed_at=utc("2026-11-12T01:00:00+00:00"))  # fmt: skip
    Task.objects.filter(pk=b.pk).update(created_at=utc("2026-11-09T16:00:00+00:00"))
    Task.objects.filter(pk=c.pk).update(created_at=utc("2026-11-10T15:59:59+00:00"), sla_breached_at=utc("2026-11-11T20:00:00+00:00"))

    manila = "&tz=Asia/Manila"
    assert sorted(ids(admin.get(f"/tasks/?created_from=2026-11-10&created_to=2026-11-10{manila}"))) == ["T-1", "T-2"]
    assert ids(admin.get("/tasks/?created_from=2026-11-10&created_to=2026-11-10")) == ["T-2"]  # UTC
    assert sorted(ids(admin.get("/tasks/?created_to=2026-11-09"))) == ["T-0", "T-1"]
    assert ids(admin.get(f"/tasks/?created_to=2026-11-09{manila}")) == ["T-0"]
    assert ids(admin.get("/tasks/?closed_from=2026-11-12&closed_to=2026-11-12&status=completed")) == ["T-0"]
    assert ids(admin.get("/tasks/?closed_from=2026-11-13")) == []
    assert ids(admin.get(f"/tasks/?breached_from=2026-11-12&breached_to=2026-11-12{manila}")) == ["T-2"]
    assert ids(admin.get("/tasks/?breached_from=2026-11-11&breached_to=2026-11-11")) == ["T-2"]
    assert ids(admin.get("/tasks/?breached_from=2026-11-12")) == []
    body = admin.get(f"/tasks/?created_from=2026-11-10&created_to=2026-11-10{manila}&page_size=1").json()
    assert body["count"] == 2 and not body["count_is_estimate"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("created_from=2026-13-01", "created_from"),
        ("closed_to=yesterday", "closed_to"),
        ("created_from=2026-11-10&tz=Mars/Olympus", "tz"),
        ("closed_from=2026-11-12&closed_to=2026-11-11", "closed_from"),
        ("breached_to=9999-12-31", "breached_to"),
        ("created_from=1969-12-31", "created_from"),
    ],
)
def test_bad_day_filters_are_400_naming_the_field(setup, admin, query, field):
    response = admin.get(f"/tasks/?{query}")
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == [field], response.content

def test_list_has_no_n_plus_one(setup, admin, django_assert_max_num_queries):
    for i in range(3):
        ingested_task(f"T-{i}")
    admin.get("/tasks/")  # the caller's account state, read once and then cached by the process (tts_common.base.accounts)
    with django_assert_max_num_queries(3) as few:  # the count's estimate, the bounded count, the page
        assert len(results(admin.get("/tasks/"))) == 3
    for i in range(3, 20):
        ingested_task(f"T-{i}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(results(admin.get("/tasks/?ordering=priority&sla_state=ok"))) == 20
    task = Task.objects.first()
    with django_assert_max_num_queries(5):  # the task, its step history, assignments, decisions, pauses
        assert admin.get(f"/tasks/{task.task_id}/").status_code == 200


def test_pagination(setup, admin):
    for i in range(5):
        ingested_task(f"T-{i}")
    body = admin.get("/tasks/?page_size=2&page=2").json()
    assert body["count"] == 5 and len(body["results"]) == 2 and body["next"] and body["previous"]
    assert admin.get("/tasks/?page=99").status_code == 404


def test_unknown_and_malformed_task_ids(setup, admin):
    assert admin.get("/tasks/00000000-0000-0000-0000-000000000000/").status_code == 404
    response = admin.get("/tasks/not-a-uuid/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_unauthenticated(setup):
    from rest_framework.test import APIClient

    assert APIClient().get("/tasks/").status_code == 401


# --- Manual creation ----------------------------------------------------------------------------------------------------
def hdts_ticket(**fields):
    return {"ticket_id": "HD-1", "title": "Printer", "category": "IT Support", "sub_category": "Network",
            "priority": "low", **fields}  # fmt: skip


def test_admin_creates_a_task_from_a_ticket(setup, admin):
    response = admin.post("/tasks/", hdts_ticket(description="Jammed"), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["external_ticket_id"] == "HD-1" and body["status"] == "in_progress" and body["assigned_user"]
    assert body["priority"] == "medium" and body["description"] == "Jammed" and len(body["step_history"]) == 1
    assert AuditEvent.objects.filter(action="task.created_manually", actor_id=1, ticket_id="HD-1").exists()

    duplicate = admin.post("/tasks/", hdts_ticket(), format="json")
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "conflict"
    assert Task.objects.count() == 1


@pytest.mark.parametrize(
    "ticket, fields",
    [
        ({"title": "x"}, {"ticket_id", "category", "sub_category", "priority"}),
        (hdts_ticket(priority="asap", title=5), {"priority", "title"}),
        (hdts_ticket(requester_email="nope"), {"requester_email"}),
        (hdts_ticket(ticket_id="x" * 101), {"ticket_id"}),
        (hdts_ticket(sub_category="Unknown"), {"category"}),  # no deployed workflow matches
        ([1, 2], {"non_field_errors"}),
    ],
)
def test_create_rejects_bad_tickets_and_writes_nothing(setup, admin, ticket, fields):
    response = admin.post("/tasks/", ticket, format="json")
    assert response.status_code == 400, response.content
    assert fields <= set(response.json()["errors"])
    assert not Task.objects.exists() and not UnroutedTicket.objects.exists() and not AuditEvent.objects.exists()


def test_only_admins_create(setup):
    assert api_client(UserFactory()).post("/tasks/", hdts_ticket(), format="json").status_code == 403
    assert not Task.objects.exists()


def test_time_on_hold_never_counts_towards_the_sla_warning(setup, admin):
    task = ingested_task("HELD", priority="medium")  # internal high: a 24 h SLA
    now = timezone.now()
    # Created 40 h ago, 24 h of it on hold (resume pushed the deadline out by that): 16 h worked of 24, so 67 % used.
    Task.objects.filter(pk=task.pk).update(
        ticket_created_at=now - timedelta(hours=40), sla_deadline=now + timedelta(hours=8)
    )
    assert ids(admin.get("/tasks/?sla_state=ok")) == ["HELD"]
    # Two more hours of work leave 6 h, a quarter of the SLA: now it warns, as the SLA monitor does.
    Task.objects.filter(pk=task.pk).update(sla_deadline=now + timedelta(hours=6))
    assert ids(admin.get("/tasks/?sla_state=warning")) == ["HELD"]
