"""Task lists that scale (issue 17): ``?q=`` search with the other filters, saved views (each user's own), and bulk
actions (each task acted on and audited as if one by one, with an outcome per task)."""
from __future__ import annotations

import pytest

from tests.workflow_api.factories import api_client, ingested_task, two_step_setup
from tts_common.base.permissions import AGENT_DEFAULTS, TASK_BULK
from workflow_api.models import AuditEvent, SavedTaskView, Task

pytestmark = pytest.mark.django_db

HOSTILE = [
    "'; DROP TABLE workflow_api_task; --",
    "\" OR 1=1 --",
    "') OR ('a'='a",
    "router & | ! <-> :* ()",
    "%_\\",
    "😀 ñandú Ωμέγα 路由器",
    "\"unterminated phrase",
    "-",
    "or or or",
    "x" * 200,
]


@pytest.fixture
def tasks():
    """Three tickets through the real ingestion: two about the router (one urgent), one about a printer."""
    _, users = two_step_setup()
    router = ingested_task("NET-0001", title="Router reboots", description="The core router restarts at night.")
    urgent = ingested_task(
        "NET-0002", title="Switch down", description="Rack 3 routers lost power; Ωμέγα wing", priority="urgent"
    )
    printer = ingested_task("PRN-0003", title="Printer jam", description="Paper stuck in tray 2 (\"HP 4250\").")
    return users, router, urgent, printer


def ticket_ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [task["external_ticket_id"] for task in response.json()["results"]]


def test_search_matches_ticket_id_title_and_description_with_the_other_filters(tasks):
    _, router, urgent, printer = tasks
    admin = api_client(is_admin=True)
    # English stems: "routers" in one description and "router" in the other both match "router".
    assert ticket_ids(admin.get("/tasks/?q=router&ordering=created_at")) == ["NET-0001", "NET-0002"]
    assert ticket_ids(admin.get("/tasks/?q=jam")) == ["PRN-0003"]  # a title word
    assert ticket_ids(admin.get("/tasks/?q=PRN-0003")) == ["PRN-0003"]  # a ticket id
    assert ticket_ids(admin.get("/tasks/?q=%22HP+4250%22")) == ["PRN-0003"]  # a quoted phrase
    assert ticket_ids(admin.get("/tasks/?q=router+-night")) == ["NET-0002"]  # a word excluded
    assert ticket_ids(admin.get("/tasks/?q=%CE%A9%CE%BC%CE%AD%CE%B3%CE%B1")) == ["NET-0002"]  # Ωμέγα
    assert ticket_ids(admin.get("/tasks/?q=router&priority=urgent")) == ["NET-0002"]
    assert ticket_ids(admin.get("/tasks/?q=router&ordering=-created_at&page_size=1")) == ["NET-0002"]
    cursor_page = admin.get("/tasks/?q=router&ordering=-created_at&page_size=1&cursor=").json()
    assert ticket_ids(admin.get(cursor_page["next"])) == ["NET-0001"]
    assert ticket_ids(admin.get("/tasks/?q=scanner")) == []


def test_search_sees_only_the_callers_tasks(tasks):
    users, router, urgent, printer = tasks
    agent = router.assigned_user
    mine = {t.external_ticket_id for t in (router, urgent, printer) if t.assigned_user_id == agent.user_id}
    found = set(ticket_ids(api_client(agent).get("/tasks/?q=router+or+printer")))
    assert found == mine & {"NET-0001", "NET-0002", "PRN-0003"} and "NET-0001" in found


@pytest.mark.parametrize("text", HOSTILE)
def test_any_search_text_is_only_a_search(tasks, text):
    response = api_client(is_admin=True).get("/tasks/", {"q": text})
    assert response.status_code == 200, response.content
    assert Task.objects.count() == 3  # nothing dropped, nothing changed
    expected = {"router & | ! <-> :* ()": ["NET-0002", "NET-0001"]}.get(text, [])  # operators are not words
    assert ticket_ids(response) == expected


@pytest.mark.parametrize("text", ["a\x00b", "x" * 201])
def test_unsearchable_text_is_a_400(tasks, text):
    response = api_client(is_admin=True).get("/tasks/", {"q": text})
    assert response.status_code == 400, response.content
    assert "q" in response.json()["errors"]


# --- Saved views -------------------------------------------------------------------------------------------------
VIEW = {"name": "Urgent routers", "query": {"q": "router", "priority": ["urgent"], "ordering": "-created_at"}}


def test_saved_views_are_crud_for_their_owner_only(tasks):
    users, *_ = tasks
    alice, bob = users["agents"][:2]
    as_alice, as_bob = api_client(alice), api_client(bob)

    created = as_alice.post("/tasks/views/", VIEW, format="json")
    assert created.status_code == 201, created.content
    view = created.json()
    assert view["query"] == {
        "q": "router", "status": [], "priority": ["urgent"], "sla_state": "", "mine": False, "ordering": "-created_at",
    }  # fmt: skip
    assert as_alice.post("/tasks/views/", VIEW, format="json").json()["errors"] == {
        "name": ["You already have a view with this name."]
    }
    assert as_bob.post("/tasks/views/", VIEW, format="json").status_code == 201  # names are per user

    url = f"/tasks/views/{view['id']}/"
    assert [v["name"] for v in as_alice.get("/tasks/views/").json()["results"]] == ["Urgent routers"]
    assert as_bob.get(url).status_code == 404
    assert as_bob.put(url, {**VIEW, "name": "Mine now"}, format="json").status_code == 404
    assert as_bob.delete(url).status_code == 404
    assert SavedTaskView.objects.get(pk=view["id"]).name == "Urgent routers"

    renamed = as_alice.put(url, {"name": "Routers", "query": {"q": "router", "mine": True}}, format="json")
    assert renamed.status_code == 200 and renamed.json()["query"]["mine"] is True
    assert as_alice.delete(url).status_code == 204
    assert as_alice.get(url).status_code == 404
    assert SavedTaskView.objects.filter(owner_id=bob.user_id).count() == 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "", "query": {}}, "name"),
        ({"name": "x", "query": {"status": ["nope"]}}, "query"),
        ({"name": "x", "query": {"ordering": "title"}}, "query"),
        ({"name": "x", "query": {"q": "a\x00"}}, "query"),
        ({"name": "x"}, "query"),
    ],
)
def test_bad_saved_views_are_400(tasks, body, field):
    response = api_client(is_admin=True).post("/tasks/views/", body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"], response.content
    assert not SavedTaskView.objects.exists()


# --- Bulk actions ------------------------------------------------------------------------------------------------
def audit_trail(task: Task) -> list[tuple[str, dict]]:
    events = AuditEvent.objects.filter(entity_type="task", entity_id=str(task.task_id)).order_by("occurred_at", "id")
    return [(e.action, {k: v for k, v in e.data.items()}) for e in events.exclude(action="task.created")]


def test_bulk_transfer_acts_on_each_task_as_one_by_one(tasks, django_capture_on_commit_callbacks):
    users, *_ = tasks
    agents = users["agents"]
    holder = agents[0]
    mine = [ingested_task(f"BULK-{i}") for i in range(9)]
    mine = [t for t in mine if t.assigned_user_id == holder.user_id]
    assert len(mine) == 3  # round-robin over three agents: every third ticket is theirs
    single = ingested_task("SINGLE-1")
    target = next(a for a in agents if a.user_id not in (holder.user_id, single.assigned_user_id))
    # A task they held, since transferred away by an admin: visible to them, no longer theirs to act on.
    theirs = mine.pop()
    admin_move = {"action": "transfer", "to_user": target.user_id}
    assert api_client(is_admin=True).post(f"/tasks/{theirs.task_id}/actions/", admin_move, format="json").status_code == 200
    theirs.refresh_from_db()

    missing = "00000000-0000-4000-8000-000000000000"
    body = {
        "action": "transfer",
        "to_user": target.user_id,
        "notes": "rebalancing",
        "task_ids": [str(mine[0].task_id), str(theirs.task_id), missing, str(mine[1].task_id), str(mine[0].task_id)],
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(holder, permissions=[*AGENT_DEFAULTS, TASK_BULK]).post("/tasks/bulk-actions/", body, format="json")
    assert response.status_code == 200, response.content
    result = response.json()
    assert (result["done"], result["refused"]) == (2, 2)
    outcomes = {o["task_id"]: o for o in result["results"]}
    assert list(outcomes) == [str(mine[0].task_id), str(theirs.task_id), missing, str(mine[1].task_id)]
    assert outcomes[str(mine[0].task_id)] | {"task_id": None} == {
        "task_id": None, "done": True, "status_code": 200, "task_status": "in_progress", "reason": "", "errors": None,
    }  # fmt: skip
    refused = outcomes[str(theirs.task_id)]
    assert (refused["done"], refused["status_code"]) == (False, 403)
    assert refused["reason"] == "Only the task's current assignee or an admin can act on it."
    assert (outcomes[missing]["status_code"], outcomes[missing]["reason"]) == (404, "Task not found.")
    for task in mine:
        assert Task.objects.get(pk=task.pk).assigned_user_id == target.user_id
    assert Task.objects.get(pk=theirs.pk).assigned_user_id == theirs.assigned_user_id

    # The same audit trail as the one-by-one action leaves.
    with django_capture_on_commit_callbacks(execute=True):
        one = api_client(single.assigned_user).post(
            f"/tasks/{single.task_id}/actions/",
            {"action": "transfer", "to_user": target.user_id, "notes": "rebalancing"},
            format="json",
        )
    assert one.status_code == 200, one.content

    def shape(task: Task) -> list[tuple[str, set[str], str]]:
        return [(action, set(data), data.get("notes")) for action, data in audit_trail(task)]

    assert shape(mine[0]) == shape(single) and shape(mine[0])[-1][0] == "task.transferred"
    assert audit_trail(mine[0])[-1][1]["to_user"] == target.user_id
    bulk_events = AuditEvent.objects.filter(action="task.transferred", entity_id__in=[str(t.task_id) for t in mine])
    assert sorted(bulk_events.values_list("actor_id", flat=True)) == [holder.user_id, holder.user_id]


def test_bulk_field_errors_are_reported_per_task(tasks):
    users, router, urgent, printer = tasks
    body = {"action": "transfer", "to_user": 999_999, "task_ids": [str(router.task_id)]}
    outcome = api_client(is_admin=True).post("/tasks/bulk-actions/", body, format="json").json()["results"][0]
    assert outcome["status_code"] == 400 and list(outcome["errors"]) == ["to_user"]
    assert outcome["reason"].startswith("Must be an active, available user")


def test_bulk_hold_then_resume(tasks):
    _, router, urgent, printer = tasks
    admin = api_client(is_admin=True)
    ids = [str(router.task_id), str(urgent.task_id)]
    held = admin.post("/tasks/bulk-actions/", {"action": "hold", "task_ids": ids, "notes": "vendor"}, format="json")
    assert [o["task_status"] for o in held.json()["results"]] == ["on_hold", "on_hold"]
    again = admin.post("/tasks/bulk-actions/", {"action": "hold", "task_ids": ids}, format="json").json()
    assert again["refused"] == 2 and again["results"][0]["status_code"] == 409
    resumed = admin.post("/tasks/bulk-actions/", {"action": "resume", "task_ids": ids}, format="json").json()
    assert resumed["done"] == 2
    assert AuditEvent.objects.filter(action="task.held", data__notes="vendor").count() == 2


@pytest.mark.parametrize(
    "body, field",
    [
        ({"action": "approve", "task_ids": ["00000000-0000-4000-8000-000000000000"]}, "action"),
        ({"action": "hold", "task_ids": []}, "task_ids"),
        ({"action": "hold", "task_ids": ["not-a-uuid"]}, "task_ids"),
        ({"action": "hold", "task_ids": ["00000000-0000-4000-8000-000000000000"] * 101}, "task_ids"),
    ],
)
def test_bad_bulk_bodies_are_400(tasks, body, field):
    response = api_client(is_admin=True).post("/tasks/bulk-actions/", body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"], response.content
    assert not AuditEvent.objects.filter(action="task.held").exists()


def test_list_rows_render_as_drf_renders_them(tasks):
    """TaskSerializer reads its fields directly (DirectReads): the same representation as DRF's own path, for open
    tasks (a current step, an assignee) and a closed one (neither), and the detail (nested fields) still DRF's."""
    from rest_framework import serializers

    from tts_common.http.auth import TokenUser
    from workflow_api.selectors.tasks import task_list
    from workflow_api.serializers import TaskDetailSerializer, TaskSerializer

    _, router, _, _ = tasks
    Task.objects.filter(pk=router.pk).update(status=Task.Status.COMPLETED, current_step=None, assigned_user=None)
    admin = TokenUser({"user_id": 1, "username": "admin", "is_admin": True, "roles": {}})
    rows = list(task_list(actor=admin))
    assert any(row.current_step_id is None for row in rows) and any(row.current_step_id is not None for row in rows)
    drf = [serializers.Serializer.to_representation(TaskSerializer(), row) for row in rows]
    assert TaskSerializer(rows, many=True).data == drf
    response = api_client(is_admin=True).get("/tasks/")
    assert response.json()["results"] == [dict(row) for row in drf]
    assert "step_history" in TaskDetailSerializer(rows[0]).data  # nested fields: DRF's path, not DirectReads
