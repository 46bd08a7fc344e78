"""EXPLAIN (ANALYZE, BUFFERS) of every statement the front door's endpoints run (issue 14), on a database
generate_history wrote: each endpoint is called through the real view (DRF's test client, no server), the SQL it ran
captured with its parameters, then each SELECT explained with ANALYZE (run again) and BUFFERS.

    DATABASE_URL=postgres://.../tts_1m_copy .venv/bin/python bench/explain_front_door.py [--plans]

It reads only (GETs; ANALYZE runs SELECTs); the agents' tokens need their account state, which generate_history
already wrote as active. The endpoints are bench/scale.py's: the busiest agent's queue and all their tasks, the
admins' filtered list (bench/scale.py's admin_queue) first page and page 20, a task's detail and the agent's
notifications. Prints each statement's execution time and buffers, and each endpoint's total."""
from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tts.settings")
for _secret_name in ("SECRET_KEY", "JWT_SIGNING_KEY"):
    os.environ.setdefault(_secret_name, secrets.token_urlsafe(48))


def front_door_calls() -> list[tuple[str, object, str]]:
    """(name, client, path) of each endpoint, with bench/scale.py's parameters."""
    from django.db.models import Count
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import AccessToken
    from scale import ADMIN_PAGES, AGENT_ALL_TASKS, admin_queue, agent_queue  # bench/ is the script's directory

    from workflow_api.models import Assignment, UserReplica

    def client(user: UserReplica, *, is_admin: bool = False) -> APIClient:
        access = AccessToken()
        access["user_id"], access["username"], access["is_admin"] = user.user_id, user.username, is_admin
        access["roles"] = {"TTS": []}
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        return api

    busiest = Assignment.objects.values("user_id").annotate(n=Count("pk")).order_by("-n").first()
    agent = UserReplica.objects.get(user_id=busiest["user_id"])
    admin = UserReplica.objects.filter(username__endswith="-admin").order_by("username").first()
    filtered = admin_queue()
    held = Assignment.objects.filter(user=agent).order_by("-assigned_at").values_list("task_id", flat=True).first()
    as_agent, as_admin = client(agent), client(admin, is_admin=True)
    print(f"agent {agent.username} (held {busiest['n']:,} assignments)", flush=True)
    return [
        ("agent queue", as_agent, agent_queue()),
        ("agent all tasks", as_agent, AGENT_ALL_TASKS),
        ("admin list p1", as_admin, filtered),
        ("admin list p20", as_admin, f"{filtered}&page={ADMIN_PAGES}"),
        ("task detail", as_agent, f"/tasks/{held}/"),
        ("notifications", as_agent, "/api/v2/notifications/inapp/?page_size=50"),
    ]


def explain_analyze(sql: str) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}")
        (document,) = cursor.fetchone()
    return (json.loads(document) if isinstance(document, str) else document)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plans", action="store_true", help="print each statement's plan (text) too")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each endpoint; the last is reported (warm)")
    args = parser.parse_args()
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, override_settings

    print(f"load {os.getloadavg()}", flush=True)
    with override_settings(ALLOWED_HOSTS=["*"]):
        for name, client, path in front_door_calls():
            for _ in range(args.repeat):
                with CaptureQueriesContext(connection) as captured:
                    response = client.get(path)
                # Page 20 of a queue shorter than 20 pages answers 404 (its count and page still ran).
                assert response.status_code in (200, 404), (path, response.status_code, response.content[:300])
            reads = [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
            total = 0.0
            print(f"\n== {name}: {path} ({response.status_code}, {len(reads)} statements)")
            for sql in reads:
                result = explain_analyze(sql)
                plan = result["Plan"]
                total += result["Execution Time"]
                print(f"  {result['Execution Time']:8.2f} ms  hit {plan.get('Shared Hit Blocks', 0):>7} "
                      f"read {plan.get('Shared Read Blocks', 0):>6}  {sql[:150]}")  # fmt: skip
                if args.plans:
                    with connection.cursor() as cursor:
                        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
                        print("\n".join("      " + row[0] for row in cursor.fetchall()))
            print(f"  {total:8.2f} ms  total of {name}", flush=True)


if __name__ == "__main__":
    main()
