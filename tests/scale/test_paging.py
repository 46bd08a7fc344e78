"""?cursor= keyset paging next to DESIGN's ?page=: the same rows in the same order, both ways, on every ordering of
the task list, and cursors that cannot be forged or reused on another ordering."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from tests.workflow_api.factories import api_client, ingested_task, two_step_setup
from workflow_api.models import Assignment, Task

pytestmark = pytest.mark.django_db


@pytest.fixture
def tasks():
    two_step_setup()
    made = [ingested_task(f"T-{i:02}", priority=["low", "medium", "high", "urgent"][i % 4]) for i in range(13)]
    # Ties on every key: four tasks created at one instant with one deadline, as one intake batch can be.
    instant = timezone.now() - timedelta(hours=1)
    Task.objects.filter(pk__in=[t.pk for t in made[3:7]]).update(created_at=instant, sla_deadline=instant)
    Assignment.objects.filter(task__in=made[3:7]).update(task_created_at=instant)  # its copy of created_at
    return made


def path_of(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def walk(client, path: str, direction: str = "next") -> tuple[list[list[str]], str]:
    """Follow ``direction`` links from ``path``: the ticket ids page by page, and the last page's path."""
    pages = []
    while True:
        response = client.get(path)
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append([row["external_ticket_id"] for row in body["results"]])
        if not body[direction]:
            return pages, path
        assert "page=" not in body[direction]
        path = path_of(body[direction])


@pytest.mark.parametrize("ordering", ["", "&ordering=-priority", "&ordering=priority", "&ordering=sla_deadline",
                                      "&ordering=-sla_deadline", "&ordering=created_at"])  # fmt: skip
def test_cursor_pages_are_the_numbered_pages_both_ways(tasks, ordering):
    admin = api_client(is_admin=True)
    everything = [row["external_ticket_id"] for row in admin.get(f"/tasks/?page_size=500{ordering}").json()["results"]]
    assert len(everything) == 13
    numbered = [
        [row["external_ticket_id"] for row in admin.get(f"/tasks/?page_size=5&page={n}{ordering}").json()["results"]]
        for n in (1, 2, 3)
    ]
    forward, last = walk(admin, f"/tasks/?cursor=&page_size=5{ordering}")
    assert forward == numbered == [everything[:5], everything[5:10], everything[10:]]
    backward, _ = walk(admin, last, "previous")
    assert backward == forward[::-1]


def test_an_agent_pages_through_what_it_may_see(tasks):
    agent = tasks[0].assigned_user
    admin_view = api_client(is_admin=True).get(f"/tasks/?assigned_user={agent.user_id}&page_size=500").json()
    client = api_client(agent)
    body = client.get("/tasks/?page_size=500").json()
    assert body["count"] == len(body["results"]) == admin_view["count"] > 1 and body["count_is_estimate"] is False
    pages, _ = walk(client, "/tasks/?cursor=&page_size=1")
    assert [page[0] for page in pages] == [row["external_ticket_id"] for row in body["results"]]


def test_cursors_cannot_be_forged_or_moved_to_another_ordering(tasks):
    admin = api_client(is_admin=True)
    next_link = admin.get("/tasks/?cursor=&page_size=5").json()["next"]
    cursor = next_link.split("cursor=")[1].split("&")[0]
    for path in (
        f"/tasks/?cursor={cursor[:-2]}xy",  # tampered
        "/tasks/?cursor=not-a-cursor",
        f"/tasks/?cursor={cursor}&ordering=sla_deadline",  # made for the default ordering
    ):
        response = admin.get(path)
        assert response.status_code == 400 and "cursor" in response.json()["errors"], (path, response.content)
    assert admin.get(f"/tasks/?cursor={cursor}&page_size=5").json()["results"]


def test_counts_are_exact_below_the_limit_and_pages_past_the_end_are_404(tasks):
    admin = api_client(is_admin=True)
    body = admin.get("/tasks/?page_size=5&page=3").json()
    assert body["count"] == 13 and body["count_is_estimate"] is False and len(body["results"]) == 3
    assert body["next"] is None and body["previous"]
    for page in ("4", "0", "x", "99999999999999999999"):
        assert admin.get(f"/tasks/?page_size=5&page={page}").status_code == 404, page


def test_a_list_django_knows_is_empty_counts_zero(tasks):
    from tts_common.http.pagination import count_rows

    assert count_rows(Task.objects.filter(pk__in=[])) == count_rows(Task.objects.none()) == (0, False)
    assert count_rows(Task.objects.filter(priority="urgent")) == (Task.objects.filter(priority="urgent").count(), False)
