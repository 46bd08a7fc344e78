"""CPU of one task-list request in process (issue 14's front door): the web process's own share, without a server.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tts_1m REDIS_URL=redis://127.0.0.1:6379/5 \\
    .venv/bin/python bench/list_cpu.py [--requests 60] [--profile agent]

Reads an existing database (as bench/search.py: nothing migrated or generated, every session read-only). Through the
real URL conf, middleware, JWT authentication and throttling (raised), DEBUG off, it sends ``--requests`` GETs of each
of bench/scale.py's endpoints: the ceiling (``/api/v1/ping/``), the busiest agent's queue (``agent_queue``) and all
their tasks (``/tasks/?page_size=50``), and the admins' filtered list (``admin_queue``), page 1 and 20. Per
endpoint: the SQL statements one request runs, median and p95 CPU time of this process per request
(``time.process_time``: PostgreSQL's work is not in it) and the wall time. ``--profile NAME`` prints cProfile's 60
costliest functions (cumulative) of that endpoint instead.
"""
from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tts.settings")
os.environ["DEBUG"] = "0"
os.environ.setdefault("THROTTLE_USER_RATE", "1000000/min")
os.environ["PGOPTIONS"] = (os.environ.get("PGOPTIONS", "") + " -c default_transaction_read_only=on").strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--profile", choices=["ping", "queue", "agent", "admin1", "admin20"])
    args = parser.parse_args()

    import django

    django.setup()
    from rest_framework.test import APIClient

    from bench.scale import AGENT_ALL_TASKS, access_token, admin_queue, agent_queue
    from bench.search import busiest_agent
    from workflow_api.models import UserReplica

    agent = busiest_agent()
    admin = UserReplica.objects.filter(username__in=("gen14-admin", "admin")).order_by("username").first()
    with contextlib.redirect_stdout(io.StringIO()):
        admin_list = admin_queue()
    endpoints = {
        "ping": ("/api/v1/ping/", agent, False),
        "queue": (agent_queue(), agent, False),
        "agent": (AGENT_ALL_TASKS, agent, False),
        "admin1": (admin_list, admin, True),
        "admin20": (f"{admin_list}&page=20", admin, True),
    }
    for name, (path, user, is_admin) in endpoints.items():
        if args.profile in (None, name):
            client = APIClient()
            token = access_token(user.user_id, user.username, is_admin=is_admin)
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            measure(name, path, client, args.requests, profile=args.profile is not None)


def measure(name: str, path: str, client: Any, requests: int, *, profile: bool) -> None:
    from django.core.signals import request_started
    from django.db import connection

    response = client.get(path, HTTP_HOST="localhost")
    assert response.status_code == 200, (path, response.content[:300])
    if profile:
        profiler = cProfile.Profile()
        profiler.runcall(lambda: [client.get(path, HTTP_HOST="localhost") for _ in range(requests)])
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)
        return
    statements: list[str] = []

    def counted(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        statements.append(sql)
        return execute(sql, params, many, context)

    def count_statements(**_: object) -> None:  # installed once the request has its connection
        connection.execute_wrappers.append(counted)

    request_started.connect(count_statements)
    client.get(path, HTTP_HOST="localhost")
    request_started.disconnect(count_statements)
    connection.execute_wrappers.remove(counted)
    cpu, wall = [], []
    for _ in range(requests):
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        client.get(path, HTTP_HOST="localhost")
        cpu.append((time.process_time() - cpu_start) * 1000)
        wall.append((time.perf_counter() - wall_start) * 1000)
    p95 = max(1, round(0.95 * len(cpu))) - 1
    print(
        f"{name:8} {len(statements)} SQL  CPU median {statistics.median(cpu):5.2f} p95 {sorted(cpu)[p95]:5.2f} ms  "
        f"wall median {statistics.median(wall):5.2f} p95 {sorted(wall)[p95]:5.2f} ms  ({path})",
        flush=True,
    )

if __name__ == "__main__":
    main()
