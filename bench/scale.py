"""The front door at scale (issue 14): the same figures on an empty database and on 10k, 100k and 1M generated tasks.

    .venv/bin/python bench/scale.py --tasks 0 10000 100000 1000000

Environment as for the tests (DATABASE_URL, CELERY_BROKER_URL, REDIS_URL); like bench/ingest.py it uses its own
database (``<name>_bench``, recreated for each size) and purges the TTS queues of the broker's vhost, so point it at
a vhost of its own. For each size: ``migrate``, ``generate_history`` (seed 14), ``seed_demo`` (the workflows intake
routes to), ``VACUUM (ANALYZE)``; then

1. **API**, a real server (``uvicorn`` as ``runall`` starts it, ``--web-workers`` processes, ``DEBUG`` off, its
   log in ``var/bench/``), driven by Debian's ``wrk`` (bench/wrk.py) for ``--seconds`` per point at each of
   ``--clients``: the ceiling (``/api/v1/ping/``: authentication, throttling, metrics, logging, no query), an
   agent's queue (what the queue page asks first: their open tasks by SLA deadline, ``agent_queue``) and all the
   tasks they may see (their history, newest first), the admins' filtered list (open, by SLA deadline:
   ``admin_queue``'s queue) first page and page 20, a task's detail, an action (marking a notification read), the
   notifications list, a ticket's comments. Each client is another agent (the busiest first); the admins' lists run
   as the admin. These runs raise ``THROTTLE_USER_RATE`` (they measure the endpoint, not the throttle); then 200 agents at once
   through a mix of list, notifications and unread count with the **production throttles**.
2. **SLA scan**: one scan to settle what the history left due, then an idle scan, then a busy one after adding
   ``--warnings`` tasks due for a warning and ``--breaches`` past their deadline (bench/sla_scan.py's rows).
3. **Comment fan-out**: bench/comments_fanout.py's, ``--fanout-clients`` (2,000) WebSocket clients over
   ``--fanout-tickets`` (200) tickets, ``--fanout-posts`` (200) comments one at a time, against a server as the API
   part's: POST to receipt p50 / p99 / max.
4. **Intake drain**: bench/ingest.py's drain run of ``--tickets`` tickets (workers as its defaults).

``--database-url`` measures an existing database instead, one ``generate_history`` wrote (the lead's shared 1M copy):
its number of tasks is counted from it, and nothing is recreated, migrated, generated, seeded or vacuumed (its
statistics are as autovacuum left them). What the benchmark itself writes there: the API part only reads, except the
mark-read action (``--skip action``) and an agent's account state when it has none (generate_history writes them);
the SLA part inserts ``--warnings`` + ``--breaches`` open tasks and its scans claim their warnings and breaches
(``--skip sla``); the fan-out part records ``--fanout-tickets`` tickets of the benchmark's user in messaging_service
(their participant rows, the user's account state) and posts ``--fanout-posts`` comments on them (``--skip fanout``);
the intake part writes seed_demo's workflows if missing and ingests ``--tickets`` tickets as tasks
(``--skip intake``). So ``--skip action sla fanout intake`` leaves it untouched.

Results go to ``bench/scale-results.json`` (each size's figures, merged over the file's) and one PNG per figure
against the number of tasks (``bench/scale-*.png``); the table printed at the end is the one bench/README.md holds.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tts.settings")
for _secret_name in ("SECRET_KEY", "JWT_SIGNING_KEY"):
    os.environ.setdefault(_secret_name, secrets.token_urlsafe(48))

import comments_fanout  # noqa: E402  (bench/ is the script's directory)
import sla_scan  # noqa: E402
from ingest import Bench, bench_database_url, build_parser, recreate_database  # noqa: E402
from wrk import LoadResult, Request, run_wrk  # noqa: E402

RESULTS = REPO / "bench" / "scale-results.json"
LOG_DIR = REPO / "var" / "bench"
SEED = 14
CEILING = "ceiling (ping)"
ADMIN_PAGES = 20  # the admin list's deep page
ENDPOINTS = (CEILING, "agent queue", "agent all tasks", "admin list p1", "admin list p20", "task detail",
             "action (mark read)", "notifications", "comments")  # fmt: skip
WRITING_ENDPOINT = "action (mark read)"  # the one API point that writes (--skip action)
USERS_AT_ONCE = 200


@dataclass
class Server:
    process: subprocess.Popen
    url: str

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_server(web_workers: int, env: dict[str, str], log_name: str, *extra: str) -> Server:
    import requests

    from tests.conftest import free_port
    from tts_common.http.web_server import uvicorn_argv

    port = free_port()
    log = open(LOG_DIR / log_name, "w")  # noqa: SIM115 (the server's, closed with the process)
    server_env = {**os.environ, "WEB_WORKERS": str(web_workers), **env}
    argv = uvicorn_argv("127.0.0.1", port, "--log-level", "warning", *extra, workers=web_workers)
    process = subprocess.Popen(argv, cwd=REPO, env=server_env, stdout=log, stderr=subprocess.STDOUT)
    server = Server(process, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"{server.url}/health/live", timeout=1)
            return server
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or busy starting on a loaded machine
            time.sleep(0.2)
    server.stop()
    raise TimeoutError(f"the server did not start; see {LOG_DIR / log_name}")


# --- Data ------------------------------------------------------------------------------------------------------
def prepare(url: str, tasks: int) -> None:
    from django.core.management import call_command
    from django.db import connection, connections

    from tts import history

    connections.close_all()
    recreate_database(url)
    call_command("migrate", verbosity=0)
    started = time.monotonic()
    if tasks:
        history.generate(tasks=tasks, seed=SEED)
    # After the history (whose generator names its roles as the demo does): the workflows intake routes to.
    call_command("seed_demo", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    print(f"{tasks:,} tasks generated and analysed in {time.monotonic() - started:.0f} s", flush=True)


def database_server() -> str:
    """The PostgreSQL server's settings scripts/tune-postgres.sh sets, printed with every figure."""
    from django.db import connection

    names = ("shared_buffers", "max_wal_size", "wal_compression")
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(f"current_setting('{name}')" for name in names))
        values = cursor.fetchone()
    return "PostgreSQL " + ", ".join(f"{name} {value}" for name, value in zip(names, values, strict=True))


def token(user_id: int, username: str, *, is_admin: bool = False) -> str:
    from tts_common.base.accounts import account_state_set
    from tts_common.models import AccountState

    if not AccountState.objects.filter(user_id=user_id, is_active=True, tokens_not_before=None).exists():
        account_state_set(user_id=user_id, is_active=True)  # as auth_service records for its users
    return access_token(user_id, username, is_admin=is_admin)


def access_token(user_id: int, username: str, *, is_admin: bool = False) -> str:
    """A token as auth_service issues it (for a user whose account state is recorded already: nothing written)."""
    from rest_framework_simplejwt.tokens import AccessToken

    access = AccessToken()
    access["user_id"], access["username"], access["is_admin"], access["roles"] = user_id, username, is_admin, {"TTS": []}
    return str(access)


AGENT_ALL_TASKS = "/tasks/?page_size=50"  # every task the agent may see (their history), newest first


def agent_queue() -> str:
    """What the agent's queue page asks first (web/static/web/queue.js, "My queue"): their open tasks, assigned to
    or owned by them, by SLA deadline, the first keyset page."""
    from workflow_api.models import Task

    statuses = "&".join(f"status={status}" for status in Task.OPEN_STATUSES)
    return f"/tasks/?page_size=50&mine=true&ordering=sla_deadline&cursor=&{statuses}"


def admin_queue() -> str:
    """The admins' filtered list: open tasks of a priority and a role, by SLA deadline, 50 a page. The deepest such
    queue with at least ADMIN_PAGES pages (page 20 is measured); where none is that deep (the open backlog is a few
    days of tickets), the open tasks of the deepest queue's priority alone, else all open tasks. Printed."""
    from django.db.models import Count

    from workflow_api.models import Task

    open_tasks = Task.objects.filter(status__in=Task.OPEN_STATUSES)
    deep = ADMIN_PAGES * 50 - 49  # rows for page ADMIN_PAGES to exist
    queue = (open_tasks.values("current_step__role_id", "priority").annotate(n=Count("pk")).order_by("-n").first()
             or {"current_step__role_id": 0, "priority": "medium", "n": 0})  # fmt: skip
    path = "/tasks/?page_size=50&ordering=sla_deadline&" + "&".join(f"status={s}" for s in Task.OPEN_STATUSES)
    role, priority = f"&role={queue['current_step__role_id']}", f"&priority={queue['priority']}"
    if queue["n"] >= deep:
        path, rows = path + priority + role, queue["n"]
    elif (rows := open_tasks.filter(priority=queue["priority"]).count()) >= deep:
        path += priority
    else:
        rows = open_tasks.count()
    print(f"admin list: {path} ({rows:,} tasks; the deepest open queue of one role and priority has {queue['n']:,})")
    return path


def endpoint_requests(clients: int) -> dict[str, list[Request]]:
    """The requests of each endpoint: one or more per agent (the ``clients`` busiest), as that agent."""
    from django.db.models import Count

    from messaging_service.models import Comment
    from notification_service.models import InAppNotification
    from workflow_api.models import Assignment, Task, UserReplica

    agents = list(
        UserReplica.objects.filter(is_active=True, roles__isnull=False).distinct()
        .annotate(held=Count("assignments")).order_by("-held", "user_id")[:clients]
    )  # fmt: skip
    admin = UserReplica.objects.filter(username__in=(f"gen{SEED}-admin", "admin")).order_by("username").first()
    admin_token = token(admin.user_id, admin.username, is_admin=True)
    filtered = admin_queue()
    requests: dict[str, list[Request]] = {name: [] for name in ENDPOINTS}
    requests["admin list p1"].append(Request(filtered, admin_token))
    requests["admin list p20"].append(Request(f"{filtered}&page={ADMIN_PAGES}", admin_token))
    for agent in agents:
        agent_token = token(agent.user_id, agent.username)
        requests[CEILING].append(Request("/api/v1/ping/", agent_token))
        requests["agent queue"].append(Request(agent_queue(), agent_token))
        requests["agent all tasks"].append(Request(AGENT_ALL_TASKS, agent_token))
        requests["notifications"].append(Request("/api/v2/notifications/inapp/?page_size=50", agent_token))
        held = Assignment.objects.filter(user=agent).order_by("-assigned_at").values_list("task_id", flat=True)
        if task_id := held.first():
            requests["task detail"].append(Request(f"/tasks/{task_id}/", agent_token))
        tickets = Task.objects.filter(pk__in=held[:200]).values("external_ticket_id")
        if ticket := Comment.objects.filter(ticket_id__in=tickets).values_list("ticket_id", flat=True).first():
            requests["comments"].append(Request(f"/api/comments/?ticket_id={ticket}", agent_token))
        notification = InAppNotification.objects.filter(user_id=agent.user_id).order_by("-id").first()
        if notification:
            requests["action (mark read)"].append(
                Request(f"/api/v2/notifications/inapp/{notification.id}/read/", agent_token, method="POST")
            )
    return requests


def mix_requests() -> list[Request]:
    """200 agents (fewer if the database has fewer): their task list, notifications and unread count."""
    from workflow_api.models import UserReplica

    agents = UserReplica.objects.filter(is_active=True, roles__isnull=False).distinct().order_by("user_id")
    mix = []
    for agent in agents[:USERS_AT_ONCE]:
        agent_token = token(agent.user_id, agent.username)
        mix += [Request("/tasks/?page_size=50", agent_token), Request("/api/v2/notifications/inapp/?page_size=50", agent_token),
                Request("/api/v2/notifications/inapp/unread-count/", agent_token)]  # fmt: skip
    return mix


# --- Figures ---------------------------------------------------------------------------------------------------
def figure(result: LoadResult) -> dict:
    return {"p50": result.percentiles_ms[50], "p95": result.percentiles_ms[95], "p99": result.percentiles_ms[99],
            "ok_per_s": result.successes_per_second, "statuses": result.statuses, "socket_errors": result.socket_errors}  # fmt: skip


def api_figures(args: argparse.Namespace) -> dict:
    figures: dict = {}
    requests = endpoint_requests(max(args.clients))
    server = start_server(args.web_workers, {"THROTTLE_USER_RATE": "1000000/min"}, "scale-web.log")
    try:
        for name in ENDPOINTS:
            if name == WRITING_ENDPOINT and "action" in args.skip:
                continue
            if not requests[name]:
                print(f"  {name}: nothing to ask for at this size", flush=True)
                continue
            for clients in args.clients:
                result = run_wrk(server.url, requests[name], connections=clients, seconds=args.seconds)
                figures[f"{name} @{clients}"] = figure(result)
                print(f"  {name:<20} {result.line()}", flush=True)
    finally:
        server.stop()
    from django.core.cache import cache

    # The throttles' history of the runs above (the same agents, at the raised rate) is not these users' own: at
    # 0 tasks, a handful of demo agents, it had every one of them throttled from the first request.
    cache.clear()
    server = start_server(args.web_workers, {}, "scale-web-production.log")  # the production throttles
    try:
        result = run_wrk(server.url, mix_requests(), connections=USERS_AT_ONCE, seconds=args.seconds)
        figures[f"200 users @{USERS_AT_ONCE}"] = figure(result)
        print(f"  {'200 users (mix)':<20} {result.line()}", flush=True)
    finally:
        server.stop()
    return figures


def sla_figures(args: argparse.Namespace) -> dict:
    import logging

    logging.getLogger("workflow_api.services.sla").setLevel(logging.WARNING)
    sla_scan.purge_notifications()
    sla_scan.timed_scan("settle scan")  # what the generated history left due
    idle = sla_scan.timed_scan("idle scan")
    layout, workflow = sla_scan.demo_layout()
    run = f"{time.time():.0f}-"  # the ticket ids of this run's tasks: a database measured again gets new ones
    sla_scan.insert_tasks("warning", args.warnings, f"SCALE-WARN-{run}", layout, workflow.sla_medium)
    sla_scan.insert_tasks("breach", args.breaches, f"SCALE-BREACH-{run}", layout, workflow.sla_medium)
    sla_scan.analyze()
    busy = sla_scan.timed_scan("busy scan")
    sla_scan.purge_notifications()
    return {"idle_s": idle, "busy_s": busy}


def fanout_figure(args: argparse.Namespace) -> dict:
    """bench/comments_fanout.py's fan-out: ``--fanout-clients`` WebSocket clients over ``--fanout-tickets`` new
    tickets of the benchmark's user, ``--fanout-posts`` comments, against a server as the API part's."""
    import asyncio

    comments_fanout.raise_descriptor_limit()
    user_token = token(comments_fanout.BENCH_USER_ID, comments_fanout.BENCH_USERNAME)
    tickets = [comments_fanout.bench_ticket("scale-fanout") for _ in range(args.fanout_tickets)]
    server = start_server(args.web_workers, {"THROTTLE_USER_RATE": "1000000/min"}, "scale-web-fanout.log", "--backlog", "4096")
    try:
        result = asyncio.run(
            comments_fanout.fanout(server.url, user_token, tickets, args.fanout_clients, args.fanout_posts)
        )
    finally:
        server.stop()
    print(f"  fan-out: {args.fanout_clients} clients over {len(tickets)} tickets, {args.fanout_posts} comments: "
          f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, max {result['max_ms']:.1f} ms", flush=True)  # fmt: skip
    return result


def intake_figure(args: argparse.Namespace) -> dict:
    bench = Bench(build_parser().parse_args(["--count", str(args.tickets), "--log-dir", str(LOG_DIR)]))
    bench.purge()
    try:
        result = bench.run("drain", drain=True)
    finally:
        bench.stop_workers()
    return {"tickets_per_s": result.count / result.seconds}


# --- Output ----------------------------------------------------------------------------------------------------
def table(results: dict) -> str:
    sizes = sorted(results, key=int)
    lines = ["| figure | " + " | ".join(f"{int(s):,} tasks" for s in sizes) + " |", "|---" * (len(sizes) + 1) + "|"]
    keys = sorted({key for size in sizes for key in results[size]["api"]}, key=_api_order)
    for key in keys:
        cells = []
        for size in sizes:
            f = results[size]["api"].get(key)
            errors = sum(n for status, n in (f or {}).get("statuses", {}).items() if int(status) >= 400)
            cells.append(f"{f['p50']:.0f} / {f['p95']:.0f} / {f['p99']:.0f} ms, {f['ok_per_s']:.0f}/s"
                         + (f", {errors} errors" if errors else "") if f else "–")  # fmt: skip
        lines.append(f"| {key} clients: p50 / p95 / p99, answers/s | " + " | ".join(cells) + " |")
    for label, part, key, unit in (("SLA scan idle", "sla", "idle_s", "s"), ("SLA scan busy", "sla", "busy_s", "s"),
                                   ("comment fan-out p50", "fanout", "p50_ms", "ms"),
                                   ("comment fan-out p99", "fanout", "p99_ms", "ms"),
                                   ("intake drain", "intake", "tickets_per_s", "tickets/s")):  # fmt: skip
        cells = [f"{results[s][part][key]:.3f} {unit}" if key in results[s].get(part, {}) else "–" for s in sizes]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _api_order(key: str) -> tuple[int, int]:
    name, clients = key.rsplit(" @", 1)
    return (ENDPOINTS.index(name) if name in ENDPOINTS else len(ENDPOINTS), int(clients))


def plots(results: dict) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    sizes = sorted(results, key=int)
    x = [int(s) for s in sizes]
    drawn = []

    def draw(name: str, title: str, ylabel: str, series: dict[str, list[float | None]]) -> None:
        fig, ax = pyplot.subplots(figsize=(8, 5))
        for label, values in series.items():
            points = [(xi, v) for xi, v in zip(x, values, strict=True) if v is not None]
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", label=label)
        ax.set_xscale("symlog", linthresh=1000)
        ax.set_xlabel("tasks in the database")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        path = REPO / "bench" / f"scale-{name}.png"
        fig.savefig(path, dpi=100, bbox_inches="tight")
        pyplot.close(fig)
        drawn.append(path)

    def api(key: str, field: str) -> list[float | None]:
        return [results[s]["api"].get(key, {}).get(field) for s in sizes]

    clients = sorted({int(k.rsplit(" @", 1)[1]) for s in sizes for k in results[s]["api"] if not k.startswith("200 ")})
    for n in clients:
        draw(f"api-p95-{n}-clients", f"API p95 at {n} client(s)", "ms", {e: api(f"{e} @{n}", "p95") for e in ENDPOINTS})
        draw(f"api-rate-{n}-clients", f"API answers/s at {n} client(s)", "successful answers/s",
             {e: api(f"{e} @{n}", "ok_per_s") for e in ENDPOINTS})  # fmt: skip
    draw("users-200", "200 users at once, production throttles", "successful answers/s",
         {"answers/s": api(f"200 users @{USERS_AT_ONCE}", "ok_per_s")})
    draw("sla-scan", "SLA scan", "seconds", {k: [results[s].get("sla", {}).get(f"{k}_s") for s in sizes] for k in ("idle", "busy")})
    draw("comment-fanout", "Comment fan-out (POST to receipt)", "ms",
         {f"p{p}": [results[s].get("fanout", {}).get(f"p{p}_ms") for s in sizes] for p in (50, 99)})
    draw("intake", "Intake drain", "tickets/s", {"drain": [results[s].get("intake", {}).get("tickets_per_s") for s in sizes]})
    return drawn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--tasks", type=int, nargs="+", help="sizes to generate (default 0 10000 100000 1000000)")
    sizes.add_argument("--database-url", help="measure this generated database as it is (see above: what it writes)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 50], help="concurrent clients per API point")
    parser.add_argument("--seconds", type=float, default=20, help="of load per API point")
    parser.add_argument("--web-workers", type=int, default=2, help="web server processes (WEB_WORKERS)")
    parser.add_argument("--warnings", type=int, default=2000, help="tasks the SLA part inserts, due for a warning")
    parser.add_argument("--breaches", type=int, default=500, help="tasks the SLA part inserts, past their deadline")
    parser.add_argument("--fanout-clients", type=int, default=2000, help="WebSocket clients of the fan-out part")
    parser.add_argument("--fanout-tickets", type=int, default=200, help="tickets the fan-out's clients are spread over")
    parser.add_argument("--fanout-posts", type=int, default=200, help="comments of the fan-out part, one at a time")
    parser.add_argument("--tickets", type=int, default=20_000, help="of the intake drain (ingested as tasks)")
    parser.add_argument("--skip", nargs="*", default=[], choices=("api", "action", "sla", "fanout", "intake"),
                        help="parts not to run (action: the API's one writing point, mark read)")  # fmt: skip
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # cleanups (servers, workers) run on `timeout` too

    LOG_DIR.mkdir(parents=True, exist_ok=True)
    if args.database_url:
        url = os.environ["DATABASE_URL"] = args.database_url
    else:
        url = bench_database_url(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tts"))
        os.environ["DATABASE_URL"] = url
        recreate_database(url)
    import django

    django.setup()
    from django.core.management import call_command

    from workflow_api.models import Task

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for tasks in [Task.objects.count()] if args.database_url else args.tasks or [0, 10_000, 100_000, 1_000_000]:
        print(f"\n=== {tasks:,} tasks; load {os.getloadavg()}; {database_server()}", flush=True)
        if not args.database_url:
            prepare(url, tasks)
        figures: dict = {"api": {}}
        if "api" not in args.skip:
            figures["api"] = api_figures(args)
        if "sla" not in args.skip:
            figures["sla"] = sla_figures(args)
        if "fanout" not in args.skip:
            figures["fanout"] = fanout_figure(args)
        if "intake" not in args.skip:
            if args.database_url:  # the workflows intake routes to (prepare seeds them for generated sizes)
                call_command("seed_demo", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
            figures["intake"] = intake_figure(args)
        figures["load"] = os.getloadavg()
        results[str(tasks)] = figures
        RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True))
    print("\n" + table(results))
    print("\n".join(f"wrote {path.relative_to(REPO)}" for path in plots(results)))


if __name__ == "__main__":
    main()
