"""SLA monitor benchmark: ``sla_scan`` over 100,000 open tasks on PostgreSQL.

    .venv/bin/python bench/sla_scan.py --open 100000 --warnings 2000 --breaches 500

Environment as for the tests (DATABASE_URL, CELERY_BROKER_URL); the benchmark uses its own database
(``<name>_bench``, recreated each run, as bench/ingest.py) and publishes the scan's notifications to the broker's
vhost, then counts and purges the notification queues, so point it at a vhost of its own. After ``migrate`` and
``seed_demo`` it inserts, set-based (``INSERT ... SELECT generate_series``), ``--open`` open tasks of the demo
workflows with their active step instances and open assignments, deadlines spread over the SLA so that none is due
(5 % on hold, 5 % pending), ANALYZEs, and times:

1. an idle scan (nothing due);
2. after adding ``--warnings`` tasks past a warning threshold and ``--breaches`` past their deadline (counted in
   ``--open``): a busy scan, escalation and the publishing after each batch's commit included;
3. a second scan right away (nothing left).

Each scan line shows seconds, tasks warned / breached / escalated, SQL statements run and messages published;
then EXPLAIN (ANALYZE, BUFFERS) of the two claim statements, taken in a transaction that is rolled back before the
busy scan.
"""
from __future__ import annotations

import argparse
import io
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tts.settings")

from ingest import bench_database_url, recreate_database  # noqa: E402  (bench/ is the script's directory)

# One row per generate_series value i (1..count): the task, the share of its SLA already elapsed (``elapsed``), the
# next warning threshold still ahead, its status. The deadline and warning times follow from the creation time as
# in intake (no calendar on the demo workflows: round-the-clock time).
TASKS_SQL = """
WITH params AS (
    SELECT now() AS base, %(sla)s::interval AS sla
), rows AS (
    SELECT i, w.workflow_id, w.step_id, w.agents, w.owner_id,
           CASE %(kind)s WHEN 'breach' THEN 1.1 WHEN 'warning' THEN 0.8 ELSE 0.89 * i / %(count)s END AS spread,
           CASE WHEN %(kind)s <> 'idle' THEN 'in_progress'
                WHEN i %% 20 = 0 THEN 'on_hold' WHEN i %% 20 = 1 THEN 'pending' ELSE 'in_progress' END AS status
    FROM generate_series(1, %(count)s) AS i
    JOIN unnest(%(workflow_ids)s::bigint[], %(step_ids)s::bigint[], %(agents)s::text[], %(owner_ids)s::bigint[])
         WITH ORDINALITY AS w(workflow_id, step_id, agents, owner_id, n) ON w.n = 1 + i %% %(workflows)s
), shifted AS (
    -- A task not due stays >= 1 %% of its SLA (~15 min) short of its next threshold, so the idle scan finds none.
    SELECT rows.*, CASE WHEN %(kind)s = 'idle' AND (spread BETWEEN 0.49 AND 0.5 OR spread BETWEEN 0.74 AND 0.75)
                        THEN spread - 0.01 ELSE spread END AS elapsed
    FROM rows
), timed AS (
    SELECT shifted.*, params.base, params.sla, params.base - params.sla * elapsed AS created,
           CASE WHEN %(kind)s = 'breach' THEN NULL WHEN %(kind)s = 'warning' THEN 75
                WHEN elapsed < 0.5 THEN 50 WHEN elapsed < 0.75 THEN 75 ELSE 90 END AS next_percent
    FROM shifted, params
)
INSERT INTO workflow_api_task (
    task_id, workflow_id, external_ticket_id, title, description, priority, status, current_step_id,
    assigned_user_id, owner_id, ticket_data, ticket_created_at, sla_deadline, on_hold_since,
    sla_next_warning_at, sla_next_warning_percent, sla_warned_at, created_at, updated_at
)
SELECT gen_random_uuid(), workflow_id, %(prefix)s || i, 'Bench task ' || i, '', 'medium', status, step_id,
       CASE WHEN status = 'pending' THEN NULL
            ELSE (string_to_array(agents, ',')::bigint[])[1 + i %% cardinality(string_to_array(agents, ','))] END,
       owner_id, '{}'::jsonb, created, created + sla, CASE WHEN status = 'on_hold' THEN base END,
       created + sla * next_percent / 100, next_percent,
       CASE WHEN elapsed >= 0.5 THEN base END, created, base
FROM timed
"""

# Every new task of the batch gets its active first step and, when assigned, its open assignment.
STEPS_SQL = """
INSERT INTO workflow_api_stepinstance (task_id, step_id, status, due_at, started_at, notes)
SELECT task_id, current_step_id, 'active', sla_deadline, ticket_created_at, ''
FROM workflow_api_task WHERE external_ticket_id LIKE %(prefix)s || '%%'
"""
ASSIGNMENTS_SQL = """
INSERT INTO workflow_api_assignment (task_id, step_instance_id, user_id, role_id, reason, assigned_at, task_created_at)
SELECT t.task_id, s.id, t.assigned_user_id, ws.role_id, 'round_robin', t.ticket_created_at, t.created_at
FROM workflow_api_task t
JOIN workflow_api_stepinstance s ON s.task_id = t.task_id AND s.status = 'active'
JOIN workflow_api_workflowstep ws ON ws.id = s.step_id
WHERE t.external_ticket_id LIKE %(prefix)s || '%%' AND t.assigned_user_id IS NOT NULL
"""


def demo_layout() -> tuple[dict[str, list], object]:
    """The deployed demo workflows' ids, first steps, the first step role's active members (agents) and one
    coordinator (the owner; escalation goes to the owner when the workflow names no escalation role)."""
    from workflow_api.models import UserRole, Workflow

    layout: dict[str, list] = {"workflow_ids": [], "step_ids": [], "agents": [], "owner_ids": []}
    workflows = list(Workflow.objects.filter(status=Workflow.Status.DEPLOYED).order_by("pk"))
    for workflow in workflows:
        step = workflow.steps.order_by("order").first()
        members = UserRole.objects.filter(user__is_active=True).order_by("user_id").values_list("user_id", flat=True)
        coordinator = members.filter(role=workflow.coordinator_role).first()
        agents = [user for user in members.filter(role=step.role) if user != coordinator]
        layout["workflow_ids"].append(workflow.pk)
        layout["step_ids"].append(step.pk)
        layout["agents"].append(",".join(map(str, agents)))
        layout["owner_ids"].append(coordinator)
    return layout, workflows[0]


def insert_tasks(kind: str, count: int, prefix: str, layout: dict[str, list], sla: object) -> float:
    """``count`` open tasks of ``kind`` (idle, warning, breach) with their step instances and assignments, in three
    set-based statements; returns the seconds taken."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        params = {"kind": kind, "count": count, "prefix": prefix, "sla": sla, "workflows": len(layout["workflow_ids"])}
        cursor.execute(TASKS_SQL, {**params, **layout})
        cursor.execute(STEPS_SQL, params)
        cursor.execute(ASSIGNMENTS_SQL, params)
    return time.perf_counter() - started


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("task", "stepinstance", "assignment", "auditevent"):
            cursor.execute(f"ANALYZE workflow_api_{table}")


def is_claim(sql: str) -> bool:
    return sql.startswith('SELECT "workflow_api_task"') and "SKIP LOCKED" in sql


@contextmanager
def counting_statements() -> Iterator[dict[str, int]]:
    """Counts the SQL statements run inside (the scan's own; N+1 queries would show here)."""
    from django.db import connection

    counts = {"statements": 0}

    def count(execute: Callable, sql: str, params: object, many: bool, context: dict) -> object:
        counts["statements"] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        yield counts


@contextmanager
def counting_published() -> Iterator[dict[str, int]]:
    """Counts the messages the outbox hands to the transport (after each batch's commit), the publish calls (each
    waits for the broker's confirms) and the seconds spent in them."""
    from tts_common.messaging import outbox

    counts = {"published": 0, "calls": 0, "seconds": 0.0}
    original = outbox.publish_batch

    def publish_batch(messages, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202 (a pass-through)
        started = time.perf_counter()
        try:
            return original(messages, *args, **kwargs)
        finally:
            counts["published"] += len(messages)
            counts["calls"] += 1
            counts["seconds"] += time.perf_counter() - started

    outbox.publish_batch = publish_batch
    try:
        yield counts
    finally:
        outbox.publish_batch = original


def timed_scan(name: str) -> float:
    """One scan, printed; returns its seconds."""
    from workflow_api.services.sla import sla_scan

    with counting_statements() as statements, counting_published() as published:
        started = time.perf_counter()
        result = sla_scan()
        seconds = time.perf_counter() - started
    load = "/".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"{name:<12} {seconds:7.3f} s  warned {result.warned:>5}  breached {result.breached:>4}  "
        f"escalated {result.escalated:>4}  SQL statements {statements['statements']:>5}  "
        f"published {published['published']:>5} messages in {published['calls']:>5} calls "
        f"({published['seconds']:.3f} s)  load {load}",
        flush=True,
    )
    return seconds


def explain_claims() -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the breach and the warning claim as the scan builds them (one batch each),
    in a transaction rolled back afterwards: nothing is claimed, nothing published."""
    from django.db import connection, transaction

    from workflow_api.services.sla import BATCH_SIZE, sla_breach_batch, sla_warning_batch

    plans: list[str] = []

    def explain(execute: Callable, sql: str, params: object, many: bool, context: dict) -> object:
        if is_claim(sql):
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
        # The claim runs again for real (its rows are this transaction's already) and the batch goes on, rolled back.
        return execute(sql, params, many, context)

    with transaction.atomic():
        with connection.execute_wrapper(explain):
            sla_breach_batch(limit=BATCH_SIZE)
            sla_warning_batch(limit=BATCH_SIZE)
        transaction.set_rollback(True)
    return plans


def purge_notifications() -> dict[str, int]:
    """Messages waiting in the notification queues (what the scan published), then purged."""
    from tts.celery import app
    from tts_common import contracts

    waiting = {}
    with app.connection_for_write() as conn:
        for name in contracts.SERVICE_QUEUES["notification_service"]:
            contracts.declared_queue(name)(conn.default_channel).declare()
            waiting[name] = conn.default_channel.queue_purge(name) or 0
    return waiting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--open", type=int, default=100_000, help="open tasks in all")
    parser.add_argument("--warnings", type=int, default=2000, help="of them, due for a warning at the busy scan")
    parser.add_argument("--breaches", type=int, default=500, help="of them, past their deadline at the busy scan")
    parser.add_argument("--no-explain", action="store_true", help="skip the EXPLAIN of the claims")
    args = parser.parse_args()

    url = bench_database_url(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tts"))
    os.environ["DATABASE_URL"] = url
    recreate_database(url)
    import django

    django.setup()
    from django.core.management import call_command

    logging.getLogger("workflow_api.services.sla").setLevel(logging.WARNING)  # the scan's own log line

    call_command("migrate", verbosity=0)
    call_command("seed_demo", verbosity=0, stdout=io.StringIO())  # not its list of logins
    purge_notifications()
    layout, workflow = demo_layout()
    sla = workflow.sla_medium
    idle = args.open - args.warnings - args.breaches
    print(f"{args.open} open tasks ({idle} not due, {args.warnings} due for a warning, {args.breaches} breached) "
          f"over {len(layout['workflow_ids'])} demo workflows, SLA {sla}; load {os.getloadavg()}", flush=True)  # fmt: skip

    seconds = insert_tasks("idle", idle, "SLA-IDLE-", layout, sla)
    analyze()
    print(f"inserted {idle} tasks + step instances + assignments in {seconds:.1f} s (ANALYZEd)", flush=True)
    timed_scan("idle scan")

    seconds = insert_tasks("warning", args.warnings, "SLA-WARN-", layout, sla)
    seconds += insert_tasks("breach", args.breaches, "SLA-BREACH-", layout, sla)
    analyze()
    print(f"inserted {args.warnings + args.breaches} due tasks in {seconds:.1f} s (ANALYZEd)", flush=True)
    plans = [] if args.no_explain else explain_claims()
    timed_scan("busy scan")
    timed_scan("second scan")
    waiting = purge_notifications()
    print("purged from the notification queues: " + ", ".join(f"{name} {count}" for name, count in waiting.items()))
    for title, plan in zip(("breach claim", "warning claim")[: len(plans)], plans, strict=True):
        print(f"\nEXPLAIN (ANALYZE, BUFFERS) of the {title}:\n{plan}")


if __name__ == "__main__":
    main()
