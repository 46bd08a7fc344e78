"""The five reports at scale (issue 16): one client, 90 days, random (seeded) filter sets, over real HTTP.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tts_1m REDIS_URL=redis://127.0.0.1:6379/4 \\
    .venv/bin/python bench/reports.py

Reads an existing database made by ``generate_history`` (which fills the rollups and records its users' account
state) and writes nothing to it: this process and the server it starts connect with
``default_transaction_read_only=on`` (an ``options`` parameter added to ``DATABASE_URL``), so a write anywhere on
the path would be an error, counted in the table. The server is bench/scale.py's (``uvicorn`` as ``runall`` starts it, ``--web-workers`` processes,
``DEBUG`` off, the user throttle raised: this measures the reports, not the throttle; its log in ``var/bench/``).

For each of ``/reports/sla|throughput|backlog|steps|agents/``: ``--sets`` filter sets drawn with ``--seed`` from
what the report accepts (time zone, interval, workflow, role, agent, priority; grouping for SLA and throughput),
each over the last ``--days`` days, asked as the admin (everyone's figures) ``--rounds`` times in turn, one request
at a time; every answer's latency is the client's (request sent to body read). Prints, and writes to
``bench/reports-results.md``, the table bench/README.md holds: p50, p95, p99, max, errors (non-200 answers and
failed connections), and each report's slowest filter set (its median over the rounds), to EXPLAIN.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import scale  # noqa: I001  (bench/ is the script's directory; it sets up the path and the secrets)

REPORTS = ("sla", "throughput", "backlog", "steps", "agents")
GROUPED = ("sla", "throughput")  # the reports whose rows follow ?group=
TIME_ZONES = ("UTC", "Asia/Manila", "America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata")
TARGET_P95_MS = 100
RESULTS = scale.REPO / "bench" / "reports-results.md"
READ_ONLY = "-c default_transaction_read_only=on"


@dataclass
class Figures:
    report: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    by_set: dict[str, list[float]] = field(default_factory=dict)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]  # nearest rank

    def slowest_set(self) -> tuple[str, float]:
        path, times = max(self.by_set.items(), key=lambda item: statistics.median(item[1]))
        return path, statistics.median(times)


def filter_sets(count: int, seed: int, days: int) -> dict[str, list[str]]:
    """Per report, ``count`` query strings over the last ``days`` days: each filter present half the time."""
    from django.db.models import Exists, OuterRef

    from workflow_api.models import Priority, RoleReplica, Task, UserReplica, Workflow

    workflows = sorted(
        Workflow.objects.filter(Exists(Task.objects.filter(workflow=OuterRef("pk")))).values_list("pk", flat=True)
    )
    roles = sorted(RoleReplica.objects.values_list("pk", flat=True))
    agents = sorted(
        UserReplica.objects.filter(is_active=True, roles__isnull=False).distinct().values_list("pk", flat=True)
    )
    draw = random.Random(seed)
    sets: dict[str, list[str]] = {}
    for report in REPORTS:
        sets[report] = []
        for _ in range(count):
            tz = draw.choice(TIME_ZONES)
            to = today_in(tz)
            params = {"from": (to - timedelta(days=days - 1)).isoformat(), "to": to.isoformat(), "tz": tz,
                      "interval": draw.choice(("day", "week"))}  # fmt: skip
            for name, values in (
                ("workflow", workflows),
                ("role", roles),
                ("agent", agents),
                ("priority", Priority.values),
            ):
                if values and draw.random() < 0.5:
                    params[name] = str(draw.choice(values))
            if report in GROUPED:
                params["group"] = draw.choice(("period", "workflow", "step", "role", "agent", "priority"))
            sets[report].append("&".join(f"{key}={value}" for key, value in params.items()))
    return sets


def today_in(tz: str) -> date:
    return datetime.now(ZoneInfo(tz)).date()


def measure(base_url: str, token: str, sets: dict[str, list[str]], rounds: int, reports: list[str]) -> list[Figures]:
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    results = []
    for report in reports:
        figures = Figures(report)
        for _ in range(rounds):
            for query in sets[report]:
                path = f"/reports/{report}/?{query}"
                started = time.perf_counter()
                try:
                    response = session.get(base_url + path, timeout=60)
                    ok = response.status_code == 200
                    if not ok:
                        print(f"  {response.status_code} {path}: {response.text[:300]}", flush=True)
                except requests.RequestException as error:
                    ok = False
                    print(f"  failed {path}: {error}", flush=True)
                elapsed = (time.perf_counter() - started) * 1000
                figures.errors += not ok
                figures.latencies_ms.append(elapsed)
                figures.by_set.setdefault(path, []).append(elapsed)
        results.append(figures)
        print(f"  {report:<10} p95 {figures.percentile(95):.0f} ms, slowest set {figures.slowest_set()[0]}", flush=True)
    return results


def table(results: list[Figures], header: str) -> str:
    lines = [header, "", "| report | p50 | p95 | p99 | max | errors | requests | slowest filter set (median) |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for f in results:
        path, median = f.slowest_set()
        verdict = "" if f.percentile(95) < TARGET_P95_MS else " **(over 100 ms)**"
        lines.append(
            f"| {f.report} | {f.percentile(50):.0f} ms | {f.percentile(95):.0f} ms{verdict} | {f.percentile(99):.0f} ms "
            f"| {max(f.latencies_ms):.0f} ms | {f.errors} | {len(f.latencies_ms)} | `{path}` ({median:.0f} ms) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", type=int, default=20, help="filter sets per report")
    parser.add_argument("--rounds", type=int, default=5, help="times each set is asked")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--web-workers", type=int, default=1, help="web server processes (one client)")
    parser.add_argument("--reports", default=",".join(REPORTS), help="comma-separated reports to ask (default: all five)")
    args = parser.parse_args()

    # Nothing on the path may write to the database measured (it is shared and read-only). The settings' own
    # connection options override libpq's PGOPTIONS, so the setting goes where they read theirs: the URL's query.
    url = os.environ["DATABASE_URL"]
    os.environ["DATABASE_URL"] = f"{url}{'&' if '?' in url else '?'}{urlencode({'options': READ_ONLY})}"
    os.environ["WEB_WORKERS"] = str(args.web_workers)
    scale.LOG_DIR.mkdir(parents=True, exist_ok=True)
    import django

    django.setup()
    from django.db import connection

    from workflow_api.models import Task, UserReplica

    with connection.cursor() as cursor:
        cursor.execute("SHOW default_transaction_read_only")
        assert cursor.fetchone()[0] == "on", "the read-only option did not reach the connection"

    admin = UserReplica.objects.get(username=f"gen{scale.SEED}-admin")
    tasks = Task.objects.count()
    sets = filter_sets(args.sets, args.seed, args.days)
    load_before = os.getloadavg()
    server = scale.start_server(args.web_workers, {"THROTTLE_USER_RATE": "1000000/min"}, "reports-web.log")
    try:
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        results = measure(
            server.url, scale.access_token(admin.user_id, admin.username, is_admin=True), sets, args.rounds,
            [report for report in REPORTS if report in args.reports.split(",")],
        )
    finally:
        server.stop()
    header = (
        f"{tasks:,} tasks, {args.days} days, {args.sets} filter sets × {args.rounds} rounds per report (seed {args.seed}), "
        f"one client, {args.web_workers} web process(es); {started}; load average before {load_before[0]:.1f} / "
        f"after {os.getloadavg()[0]:.1f}; {scale.database_server()}"
    )
    output = table(results, header)
    print("\n" + output)
    RESULTS.write_text(output + "\n")
    print(f"wrote {RESULTS.relative_to(scale.REPO)}")
    sys.exit(1 if any(f.errors for f in results) else 0)


if __name__ == "__main__":
    main()
