"""An agent's queue page (``/tasks/?mine=true&status=...&ordering=sla_deadline&cursor=``) is read through the queue's
compiled statements (workflow_api.selectors.queue): every page, walked forwards and back, is the task list's for the
same query string, as TaskFilter reads it; any other query string is TaskFilter's."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.workflow_api.factories import UserFactory, api_client, two_step_setup
from tts_common.http.pagination import Cursor
from workflow_api.models import Task
from workflow_api.selectors.queue import _page_statement
from workflow_api.services.ingestion import IncomingTicket, ingest_tickets

pytestmark = pytest.mark.django_db

OPEN = list(Task.OPEN_STATUSES)


@pytest.fixture
def queue():
    """24 tasks over three agents (round-robin) and two coordinators (owners): deadlines in four groups of equal
    deadlines (ties broken by task id), some closed, some on hold, one moved to another user."""
    _, users = two_step_setup()
    now = timezone.now()
    tickets = [
        IncomingTicket(
            ticket_id=f"T-{i:02}",
            data={"ticket_id": f"T-{i:02}", "title": f"Ticket {i}", "category": "IT Support",
                  "sub_category": "Network", "priority": ("low", "medium", "high", "urgent")[i % 4]},
            received_at=now,
        )  # fmt: skip
        for i in range(24)
    ]
    tasks = ingest_tickets(tickets)
    for i, task in enumerate(tasks):
        task.sla_deadline = now + timedelta(hours=(i % 4) - 1)  # one group already breached
        task.status = ("completed", "on_hold", "pending", "in_progress")[i % 4] if i % 3 else task.status
    Task.objects.bulk_update(tasks, ["sla_deadline", "status"])
    Task.objects.filter(pk=tasks[5].pk).update(assigned_user=UserFactory())
    return users


def page(client, path: str) -> tuple[dict, list[str], bool]:
    """The answer's body, the SQL the request ran, and whether the queue's statements read the page (the queue's
    statement cache was asked for one: the SQL itself is the same as TaskFilter's, which is the point)."""
    asked = queue_statements_asked()
    with CaptureQueriesContext(connection) as statements:
        response = client.get(path)
    assert response.status_code == 200, response.content
    return response.json(), [statement["sql"] for statement in statements], queue_statements_asked() > asked


def queue_statements_asked() -> int:
    info = _page_statement.cache_info()
    return info.hits + info.misses


def cursor_of(link: str | None) -> Cursor | None:
    return Cursor.decode(parse_qs(urlsplit(link).query)["cursor"][0]) if link else None


def assert_same_page(client, path: str) -> dict:
    """``path`` as the queue reads it, and with a filter that changes nothing (``q=``: TaskFilter reads it)."""
    fast, _, fast_by_queue = page(client, path)
    listed, _, listed_by_queue = page(client, f"{path}&q=")
    assert fast_by_queue and not listed_by_queue
    assert fast["results"] == listed["results"]
    assert (fast["count"], fast["count_is_estimate"]) == (listed["count"], listed["count_is_estimate"])
    for link in ("next", "previous"):
        assert cursor_of(fast[link]) == cursor_of(listed[link]), link
    return fast


def relative(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


@pytest.mark.parametrize("statuses", [OPEN, ["pending", "on_hold"], ["in_progress", "in_progress"], ["completed"]])
@pytest.mark.parametrize("page_size", [1, 3, 50])
def test_every_page_of_the_queue_is_the_task_lists(queue, statuses, page_size):
    status = "&".join(f"status={s}" for s in statuses)
    for user, is_admin in [(queue["agents"][0], False), (queue["coordinators"][0], False), (queue["agents"][1], True)]:
        client = api_client(user, is_admin=is_admin)
        first = f"/tasks/?mine=true&{status}&ordering=sla_deadline&page_size={page_size}&cursor="
        body = assert_same_page(client, first)
        seen = [task["task_id"] for task in body["results"]]
        pages = [seen[:]]
        while body["next"]:
            body = assert_same_page(client, relative(body["next"]))
            pages.append([task["task_id"] for task in body["results"]])
            seen += pages[-1]
        expected = Task.objects.filter(status__in=statuses).filter(
            pk__in=[t.pk for t in Task.objects.all() if user.user_id in (t.assigned_user_id, t.owner_id)]
        ).order_by("sla_deadline", "task_id")  # fmt: skip
        assert seen == [str(pk) for pk in expected.values_list("pk", flat=True)]
        back = len(pages) - 1
        while body["previous"]:  # and back to the first page
            body = assert_same_page(client, relative(body["previous"]))
            back -= 1
            assert [task["task_id"] for task in body["results"]] == pages[back]
        assert back == 0


def test_the_queue_runs_one_statement_when_its_first_page_is_all_of_it(queue):
    status = "&".join(f"status={s}" for s in OPEN)
    body, statements, _ = page(api_client(queue["agents"][0]), f"/tasks/?mine=true&{status}&ordering=sla_deadline&cursor=")
    task_reads = [sql for sql in statements if "workflow_api_task" in sql]
    assert len(task_reads) == 1 and body["count"] == len(body["results"]) > 0


@pytest.mark.parametrize(
    ("query", "read_by_the_queue"),
    [
        ("mine=true&status=pending&ordering=sla_deadline&cursor=", True),
        ("mine=true&status=pending&ordering=sla_deadline&cursor=&page_size=7", True),
        ("mine=true&status=pending&ordering=sla_deadline", False),  # offset paging
        ("mine=1&status=pending&ordering=sla_deadline&cursor=", False),
        ("mine=true&status=pending&ordering=-sla_deadline&cursor=", False),
        ("mine=true&ordering=sla_deadline&cursor=", False),  # every status
        ("mine=true&status=pending&ordering=sla_deadline&cursor=&priority=high", False),
        ("mine=true&status=pending&ordering=sla_deadline&cursor=&cursor=", False),
        ("mine=true&status=pending&ordering=sla_deadline&cursor=&page=2", False),
    ],
)
def test_only_the_queue_pages_query_string_is_read_by_the_queue(queue, query, read_by_the_queue):
    _, _, by_queue = page(api_client(queue["agents"][0]), f"/tasks/?{query}")
    assert by_queue == read_by_the_queue


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=closed&cursor=", "status"),  # not a status: TaskFilter's 400
        ("status=pending&cursor=garbage", "cursor"),
        ("status=pending&cursor=" + Cursor(["-created_at", "-task_id"], [], False).encode(), "cursor"),
        ("status=pending&cursor=" + signing.dumps({"o": ["sla_deadline", "task_id"], "v": [1]}, salt="x"), "cursor"),
    ],
)
def test_bad_queue_queries_are_400_naming_the_field(queue, query, field):
    response = api_client(queue["agents"][0]).get(f"/tasks/?mine=true&ordering=sla_deadline&{query}")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
