"""Every query on the front door's paths uses an index (issue 14): on 100,000 generated tasks (two years of a help
desk: every service's tables, generate_history), statistics up to date as autovacuum keeps them, the real endpoints
are called with parameters of realistic selectivity (the busiest agent and coordinator, the largest open queue of a
role and priority, deep pages), each SQL statement they ran is captured with its parameters, and EXPLAIN of each
must not read a large table sequentially.

Then, on the same dataset, 200 users at once against a real server with the production throttles: no 5xx, no
socket error, hardly a 429; the answers a second are printed (bench/scale.py measures them on a quiet machine).

One test function: the dataset takes a minute and a half to write, and a transactional test empties the tables
when it ends."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone

from bench.wrk import Request, run_wrk
from messaging_service.models import Comment
from notification_service.models import InAppNotification
from tests.conftest import ServerProcess, _process_env
from tests.scale.plans import LARGE_TABLE_ROWS, explain, large_tables, plan_nodes, statements_of, web_plan
from tests.workflow_api.factories import access_token
from workflow_api.models import Assignment, Task, UserReplica
from workflow_api.selectors.queue import _page_statement, queue_keys
from workflow_api.selectors.tasks import NEWEST_FIRST

TASKS = 100_000
SEED = 14  # tests/web/test_task_lists.py's too: the session writes the history once (generated_history)
USERS = 200
LOAD_SECONDS = 20
REPORTS = ("sla", "throughput", "backlog", "steps", "agents")
OPEN = "&".join(f"status={status}" for status in Task.OPEN_STATUSES)

# One xdist worker takes both tests of the 100,000-task history (this and the task lists page): written once.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200), pytest.mark.xdist_group("history_100k")]


def client_for(user: UserReplica, *, is_admin: bool = False):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token(user.user_id, user.username, is_admin=is_admin)}")
    return client


def most(queryset, field: str):
    """The value of ``field`` with the most rows: the heaviest realistic parameter."""
    return queryset.values(field).annotate(n=Count("pk")).order_by("-n").values_list(field, flat=True).first()


def relative(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def test_the_front_door_at_100_000_tasks(generated_history, tmp_path):
    generated_history(tasks=TASKS, seed=SEED)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")  # what autovacuum keeps up on a live database: statistics, visibility
    queries_use_indexes()
    two_hundred_users_at_once(tmp_path)


def queries_use_indexes() -> None:
    big = large_tables()
    assert {"workflow_api_task", "workflow_api_assignment", "notification_service_inappnotification"} <= big

    admin = client_for(UserReplica.objects.get(username=f"gen{SEED}-admin"), is_admin=True)
    agent = UserReplica.objects.get(user_id=most(Assignment.objects, "user_id"))
    coordinator = UserReplica.objects.get(user_id=most(Task.objects.exclude(owner=None), "owner_id"))
    open_tasks = Task.objects.filter(status__in=Task.OPEN_STATUSES)
    role_id = most(open_tasks, "current_step__role_id")
    priority = most(open_tasks.filter(current_step__role_id=role_id), "priority")
    held = Task.objects.filter(assignments__user=agent).order_by(*NEWEST_FIRST).first()
    commented = (
        Task.objects.filter(assignments__user=agent, external_ticket_id__in=Comment.objects.values("ticket_id"))
        .order_by("external_ticket_id")
        .first()
    )
    notified = InAppNotification.objects.filter(user_id=agent.user_id).count()
    assert notified > 20 * 50, notified  # page 20 of the agent's notifications exists

    as_agent, as_coordinator = client_for(agent), client_for(coordinator)
    rare = Task.objects.order_by("external_ticket_id")[TASKS // 2].external_ticket_id
    common_search = admin.get("/tasks/?page_size=50&q=Santos&ordering=-created_at&cursor=")
    last_day = timezone.now().date()
    report_range = f"from={last_day - timedelta(days=89)}&to={last_day}&tz=Asia/Manila"
    deep_admin = admin.get(f"/tasks/?cursor=&page_size=50&priority={priority}&ordering=sla_deadline")
    calls = [
        # The agent's queue, and a coordinator's (owning a share of every task).
        (as_agent, "/tasks/?page_size=50"),
        (as_agent, "/tasks/?page_size=50&page=20"),
        (as_agent, f"/tasks/?page_size=50&mine=true&{OPEN}"),
        # The queue page's own query string (workflow_api.selectors.queue's statements), first and next page.
        (as_agent, f"/tasks/?page_size=50&mine=true&{OPEN}&ordering=sla_deadline&cursor="),
        (as_coordinator, f"/tasks/?page_size=50&mine=true&{OPEN}&ordering=sla_deadline&cursor="),
        (as_coordinator, relative(as_coordinator.get(f"/tasks/?page_size=5&mine=true&{OPEN}&ordering=sla_deadline&cursor=").json()["next"])),
        (as_coordinator, "/tasks/?page_size=50"),
        (as_coordinator, f"/tasks/?page_size=50&{OPEN}&ordering=sla_deadline"),
        # The admins' lists: everything, and the filtered queue, first and deep pages, by page and by cursor.
        (admin, "/tasks/?page_size=50"),
        (admin, "/tasks/?page_size=50&page=20"),
        (admin, f"/tasks/?page_size=50&{OPEN}&priority={priority}&role={role_id}&ordering=sla_deadline"),
        (admin, f"/tasks/?page_size=5&page=20&{OPEN}&ordering=sla_deadline"),
        (admin, f"/tasks/?page_size=50&page=20&priority={priority}&ordering=sla_deadline"),
        (admin, relative(deep_admin.json()["next"])),
        (admin, "/tasks/?page_size=50&ordering=-priority&cursor="),
        # A report's drill-downs (issue 16): the tasks created, closed or breached on the report's days, in its zone.
        (admin, f"/tasks/?page_size=50&created_from={last_day - timedelta(days=6)}&created_to={last_day}&tz=Asia/Manila"),
        (admin, f"/tasks/?page_size=50&status=completed&closed_from={last_day - timedelta(days=89)}&closed_to={last_day}"
                "&tz=Asia/Manila&ordering=sla_deadline"),  # fmt: skip
        (admin, f"/tasks/?page_size=50&breached_from={last_day}&breached_to={last_day}&role={role_id}&tz=Asia/Manila"),
        # Search (issue 17): a rare term (one ticket id), common terms newest first (a surname on a tenth of the
        # tickets, a word on a twentieth), an agent's search, and a search's cursor page.
        (admin, f"/tasks/?page_size=50&q={rare}"),
        (admin, f"/tasks/?page_size=50&q={rare}&ordering=-created_at"),
        (as_agent, f"/tasks/?page_size=50&q={held.external_ticket_id}"),
        (admin, "/tasks/?page_size=50&q=Santos&ordering=-created_at"),
        (admin, f"/tasks/?page_size=50&q=printer&{OPEN}&ordering=-created_at"),
        (as_agent, "/tasks/?page_size=50&q=printer"),
        (admin, relative(common_search.json()["next"])),
        # One task, its comments, the agent's notifications.
        (as_agent, f"/tasks/{held.task_id}/"),
        (admin, f"/tasks/{held.task_id}/"),
        (as_agent, f"/api/comments/?ticket_id={commented.external_ticket_id}"),
        (as_agent, "/api/v2/notifications/inapp/?page_size=50"),
        (as_agent, "/api/v2/notifications/inapp/?page_size=50&page=20"),
        (as_agent, "/api/v2/notifications/inapp/?page_size=50&unread=true"),
        (as_agent, "/api/v2/notifications/inapp/unread-count/"),
        # Reports over 90 days (issue 16): everyone's, one role's queue, the busiest agent's own.
        *((admin, f"/reports/{report}/?{report_range}") for report in REPORTS),
        *((admin, f"/reports/{report}/?{report_range}&role={role_id}&priority={priority}") for report in REPORTS),
        *((as_agent, f"/reports/{report}/?{report_range}") for report in REPORTS),
    ]
    statements = [statement for client, path in calls for statement in statements_of(client, path)]
    scans = [f"{s.request}: {', '.join(s.seq_scans(big))}\n  {s.sql}" for s in statements if s.seq_scans(big)]
    assert not scans, f"sequential scans of tables over {LARGE_TABLE_ROWS:,} rows:\n" + "\n".join(scans)
    assert len(statements) >= 2 * len(calls)

    agent_queue_reads_a_page(as_agent, as_coordinator)
    queue_page_has_one_plan_for_every_user(
        UserReplica.objects.get(user_id=most(open_tasks.exclude(assigned_user=None), "assigned_user_id")),
        UserReplica.objects.get(user_id=most(open_tasks.exclude(owner=None), "owner_id")),
    )
    queue = f"/tasks/?page_size=50&{OPEN}&priority={priority}&role={role_id}&ordering=sla_deadline"
    admin_queue_reads_open_tasks_only(admin, queue, open_tasks.count())
    rare_search_reads_its_matches((admin, rare), (as_agent, held.external_ticket_id))

    # Counts: exact for the agent (below 10,000), the planner's estimate for all 100,000.
    visible = Task.objects.filter(Q(assignments__user=agent) | Q(owner=agent) | Q(assigned_user=agent)).distinct()
    mine = as_agent.get("/tasks/?page_size=1").json()
    assert mine["count"] == visible.count() and not mine["count_is_estimate"]
    everything = admin.get("/tasks/?page_size=1").json()
    assert everything["count_is_estimate"] and 0.8 * TASKS < everything["count"] < 1.2 * TASKS

    # The rare term finds its one ticket; the common one (a tenth of the tickets) newest first.
    assert [t["external_ticket_id"] for t in admin.get(f"/tasks/?q={rare}").json()["results"]] == [rare]
    santos = common_search.json()
    assert santos["count"] > TASKS // 20 and len(santos["results"]) == 50
    assert all("Santos" in t["description"] for t in santos["results"])
    created = [t["created_at"] for t in santos["results"]]
    assert created == sorted(created, reverse=True)


def agent_queue_reads_a_page(*clients) -> None:
    """A user's list, newest first, reads the tasks they held in that order from the index keyed by the task's
    created_at (assignment_user_created) and fetches one page of tasks: not every task of the user's history (the
    busiest agent held thousands)."""
    for client in clients:
        # The page's statement: the one reading task rows (the count may run before or after it).
        statements = statements_of(client, "/tasks/?page_size=50")
        page = next(s for s in statements if s.sql.startswith('SELECT "workflow_api_task"'))
        nodes = list(plan_nodes(explain(page.sql, analyze=True)))
        # The held side is the long one; the owned side may be served by either owner index, as the planner weighs
        # it (a user owns far fewer tasks than they held). What must hold: no task beyond the page is fetched.
        assert "assignment_user_created" in {node.get("Index Name") for node in nodes}
        fetched = [node for node in nodes if node.get("Alias") == "workflow_api_task"]
        assert fetched and all(node["Actual Rows"] * node["Actual Loops"] <= 51 for node in fetched), page.sql


def queue_page_has_one_plan_for_every_user(*users: UserReplica) -> None:
    """The queue page's statement as a web connection runs it, planned once for every user (no planning per request:
    it was half of PostgreSQL's time for a queue page), reads no more task rows than the user has open: with the
    statuses a parameter, that one plan walked the deadline index over every task. ``users``: the ones with the most
    open tasks assigned and owned (the busiest agent by assignments may have none open)."""
    statement = _page_statement(tuple(sorted(Task.OPEN_STATUSES)), queue_keys(), False, 51)
    for user in users:
        plan = web_plan(statement.sql, statement.bind({"user_id": user.user_id}))
        nodes = list(plan_nodes(plan))
        assert any("$1" in node.get("Recheck Cond", node.get("Index Cond", "")) for node in nodes), plan  # generic
        read = sum((node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * node["Actual Loops"]
                   for node in nodes if node.get("Relation Name") == "workflow_api_task")  # fmt: skip
        mine = Task.objects.filter(Q(assigned_user=user) | Q(owner=user), status__in=Task.OPEN_STATUSES).count()
        assert 0 < read <= mine, (read, mine, plan)


def admin_queue_reads_open_tasks_only(admin, path: str, open_count: int) -> None:
    """The admins' queue (open, a priority, a role, by deadline) reads no more task rows than there are open tasks,
    counting those a scan read and threw away: the role's steps once joined to the tasks had the planner read every
    task in step order, closed ones included."""
    for statement in statements_of(admin, path):
        nodes = plan_nodes(explain(statement.sql, analyze=True))
        read = sum((node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * node["Actual Loops"]
                   for node in nodes if node.get("Relation Name") == "workflow_api_task")  # fmt: skip
        assert read <= open_count, (read, open_count, statement.sql)


def rare_search_reads_its_matches(*searches) -> None:
    """A ticket id, a word outside the statistics (PostgreSQL assumes it in 0.5 % of the tasks), newest first: the
    list takes its one match by primary key, found through the GIN index, and reads no other task (at 1,000,000
    tasks the planner's estimate had it walk task_created over every task, parsing each one's text)."""
    for client, ticket_id in searches:
        page = statements_of(client, f"/tasks/?page_size=50&ordering=-created_at&q={ticket_id}")[-1]
        assert '"workflow_api_task"."task_id" = ANY(' in page.sql, page.sql
        nodes = list(plan_nodes(explain(page.sql, analyze=True)))
        assert "task_created" not in {node.get("Index Name") for node in nodes}, page.sql
        fetched = [node for node in nodes if node.get("Index Name") == "workflow_api_task_pkey"]
        assert fetched and sum(node["Actual Rows"] * node["Actual Loops"] for node in fetched) == 1, page.sql


def two_hundred_users_at_once(tmp_path) -> None:
    """A real server as deployed on this 2-core machine (two processes, README's one per core; the production
    throttles: the suite's raised rates are removed), wrk's 200 connections cycling through 200 agents' task list, a
    task each of them holds, their notifications and the bell's unread count."""
    agents = [user for user in UserReplica.objects.filter(username__startswith=f"gen{SEED}-").exclude(username=f"gen{SEED}-admin")
              .order_by("user_id")[:USERS]]  # fmt: skip
    assert len(agents) == USERS
    held = dict(Task.objects.filter(assigned_user__in=agents).order_by("assigned_user_id", "-created_at")
                .distinct("assigned_user_id").values_list("assigned_user_id", "task_id"))  # fmt: skip
    requests = []
    for agent in agents:
        token = access_token(agent.user_id, agent.username)
        requests += [
            Request("/tasks/?page_size=50", token),
            Request("/api/v2/notifications/inapp/?page_size=50", token),
            Request("/api/v2/notifications/inapp/unread-count/", token),
        ]
        if agent.user_id in held:
            requests.append(Request(f"/tasks/{held[agent.user_id]}/", token))
    production = {name: value for name, value in _process_env().items() if not name.startswith("THROTTLE_")}
    production["WEB_WORKERS"] = "2"
    server = ServerProcess(tmp_path / "server.log", production)
    try:
        server.wait_ready()
        result = run_wrk(server.url, requests, connections=USERS, seconds=LOAD_SECONDS)
    finally:
        server.stop()
    print(f"\n200 users: {result.line()}")
    assert result.server_errors == 0 and not result.socket_errors, (result.line(), server.log_path.read_text()[-3000:])
    assert result.statuses.get(429, 0) < result.answers / 100, result.line()
