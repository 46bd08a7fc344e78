"""The task list's full-text search at scale (issue 17): ``GET /tasks/?q=`` for rare and common terms, newest first.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tts_1m REDIS_URL=redis://127.0.0.1:6379/5 \\
    .venv/bin/python bench/search.py

Reads an existing database (DATABASE_URL as given: no ``_bench`` copy, nothing migrated or generated), such as the
1,000,000-task ``generate_history --tasks 1000000 --seed 14`` one; every connection, the server's included, runs
with ``default_transaction_read_only`` on, so the database is never written. The terms come from the data itself,
drawn with ``--seed`` from tasks picked at random (by a random task id):

- **rare** (fewer than 100 matches): a task's ticket id, and its requester's full name with the task's noun and
  the last word of its title (all words must match);
- **common** (more than 10,000 matches): single words of the sampled titles and descriptions that occur in at
  least ``--common-share`` of the sample.

Each term is printed with its match count (the search's own queryset, counted). Then, against a real server
(bench/scale.py's: ``--web-workers`` uvicorn processes, ``DEBUG`` off, the throttles raised), one wrk client
(bench/wrk.py) cycles for ``--seconds`` through each kind's terms, as the admin and as the busiest agent:
``/tasks/?page_size=50&ordering=-created_at&q=<term>``. ``--explain`` also prints EXPLAIN (ANALYZE, BUFFERS) of each
SQL statement the admin's first rare and first common search run (captured in process, with their parameters).
"""
from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import signal
import sys
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tts.settings")
for _secret_name in ("SECRET_KEY", "JWT_SIGNING_KEY"):
    os.environ.setdefault(_secret_name, secrets.token_urlsafe(48))
# Read-only, the server's connections too (it inherits the environment): libpq applies PGOPTIONS to every session.
os.environ["PGOPTIONS"] = (os.environ.get("PGOPTIONS", "") + " -c default_transaction_read_only=on").strip()

from scale import LOG_DIR, SEED, database_server, start_server, token  # noqa: E402  (bench/ is the script's directory)
from wrk import LoadResult, Request, run_wrk  # noqa: E402

RARE_LIMIT = 100
COMMON_LIMIT = 10_000
PAGE = "/tasks/?page_size=50&ordering=-created_at&"
WORD = re.compile(r"[^\W\d_]{3,}")  # words of letters only: no ticket ids, numbers or codes
STOP_WORDS = {"the", "and", "for", "was", "with", "are", "not", "from", "after", "over", "since", "when", "before",
              "reported", "ticket", "shows", "needs", "keeps", "cannot"}  # fmt: skip


@dataclass(frozen=True)
class Term:
    kind: str  # "rare" or "common"
    text: str
    matches: int


def matches(text: str) -> int:
    from workflow_api.models import Task
    from workflow_api.selectors.tasks import task_search

    return task_search(Task.objects.all(), text=text).count()


def sampled_tasks(rng: random.Random, count: int) -> list:
    """``count`` tasks drawn at random: the first task at or after a random task id (ids are random UUIDs)."""
    from workflow_api.models import Task

    picked = []
    for _ in range(count):
        start = uuid.UUID(int=rng.getrandbits(128))
        task = (Task.objects.filter(task_id__gte=start).order_by("task_id").only("external_ticket_id", "title",
                "description").first() or Task.objects.order_by("task_id").first())  # fmt: skip
        picked.append(task)
    return picked


def rare_candidates(task) -> list[str]:
    candidates = [task.external_ticket_id]
    requester = re.search(r"reported by ([^.]+)\.", task.description)
    title_words = WORD.findall(task.title)
    if requester and title_words:
        candidates.append(f"{requester[1]} {title_words[0]} {title_words[-1]}")
    return candidates


def pick_terms(seed: int, per_kind: int, sample: int, common_share: float) -> list[Term]:
    rng = random.Random(seed)
    tasks = sampled_tasks(rng, sample)
    ids: list[Term] = []
    phrases: list[Term] = []  # half ticket ids, half several words
    for task in tasks:
        for text in rare_candidates(task):
            found = ids if " " not in text else phrases
            if len(found) < (per_kind + 1) // 2 and 0 < (n := matches(text)) < RARE_LIMIT:
                found.append(Term("rare", text, n))
        if len(ids) + len(phrases) >= 2 * ((per_kind + 1) // 2):
            break
    rare = ids[: per_kind - per_kind // 2] + phrases[: per_kind // 2]
    words = Counter(w.lower() for task in tasks for w in set(WORD.findall(f"{task.title} {task.description}")))
    frequent = sorted(w for w, n in words.items() if n >= common_share * len(tasks) and w not in STOP_WORDS)
    common = []
    for text in rng.sample(frequent, len(frequent)):
        if (n := matches(text)) > COMMON_LIMIT:
            common.append(Term("common", text, n))
        if len(common) == per_kind:
            break
    return rare + common


def busiest_agent():
    from django.db.models import Count

    from workflow_api.models import UserReplica

    return (UserReplica.objects.filter(is_active=True, roles__isnull=False).distinct()
            .annotate(held=Count("assignments")).order_by("-held", "user_id").first())  # fmt: skip


def search_path(term: Term) -> str:
    return PAGE + urlencode({"q": term.text})


def explain_searches(terms: list[Term], admin) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of every statement the admin's first search of each kind runs."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token(admin.user_id, admin.username, is_admin=True)}")
    for kind in ("rare", "common"):
        term = next(t for t in terms if t.kind == kind)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(search_path(term), HTTP_HOST="localhost")
        assert response.status_code == 200, response.content[:300]
        for query in captured.captured_queries:
            if not query["sql"].lstrip().upper().startswith("SELECT"):
                continue
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {query['sql']}")
                plan = "\n".join(f"    {line}" for (line,) in cursor.fetchall())
            print(f"\n--- {kind} {term.text!r} ({term.matches:,} matches), {query['time']} s in the request:\n"
                  f"    {query['sql'][:300]}{'…' if len(query['sql']) > 300 else ''}\n{plan}", flush=True)  # fmt: skip


def measure(args: argparse.Namespace, terms: list[Term], admin, agent) -> dict[tuple[str, str], LoadResult]:
    as_admin = token(admin.user_id, admin.username, is_admin=True)
    as_agent = token(agent.user_id, agent.username)
    results = {}
    server = start_server(args.web_workers, {"THROTTLE_USER_RATE": "1000000/min"}, "search-web.log")
    try:
        for kind in ("rare", "common"):
            for role, bearer in (("admin", as_admin), ("agent", as_agent)):
                requests = [Request(search_path(t), bearer) for t in terms if t.kind == kind]
                run_wrk(server.url, requests, connections=1, seconds=2)  # warm: connections, caches, plans
                result = run_wrk(server.url, requests, connections=1, seconds=args.seconds)
                results[(kind, role)] = result
                print(f"  {kind:<6} {role:<5} {result.line()}", flush=True)
    finally:
        server.stop()
    return results


def table(results: dict[tuple[str, str], LoadResult]) -> str:
    targets = {"rare": 50, "common": 200}
    lines = ["| search (1 client, newest first, 50 a page) | p50 / p95 / p99 | answers/s | p95 target | errors |",
             "|---|---|---|---|---|"]  # fmt: skip
    for (kind, role), r in results.items():
        p = r.percentiles_ms
        errors = sum(n for status, n in r.statuses.items() if status >= 400) + sum(r.socket_errors.values())
        lines.append(f"| {kind} term, as {role} | {p[50]:.0f} / {p[95]:.0f} / {p[99]:.0f} ms | "
                     f"{r.successes_per_second:.1f} | < {targets[kind]} ms {'✓' if p[95] < targets[kind] else '✗'} | "
                     f"{errors} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--terms", type=int, default=4, help="of each kind")
    parser.add_argument("--sample", type=int, default=400, help="tasks drawn to find the terms in")
    parser.add_argument("--common-share", type=float, default=0.03, help="of the sample a common word is in")
    parser.add_argument("--seconds", type=float, default=20, help="of load per kind and role")
    parser.add_argument("--web-workers", type=int, default=2, help="web server processes (WEB_WORKERS)")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN (ANALYZE, BUFFERS) of the admin's searches")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the server stops on `timeout` too
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    import django

    django.setup()
    from workflow_api.models import Task, UserReplica

    print(f"{os.environ.get('DATABASE_URL')}: ~{Task.objects.count():,} tasks; load {os.getloadavg()}; {database_server()}", flush=True)
    terms = pick_terms(args.seed, args.terms, args.sample, args.common_share)
    for term in terms:
        print(f"  {term.kind:<6} {term.text!r}: {term.matches:,} matches", flush=True)
    admin = UserReplica.objects.filter(username__in=(f"gen{SEED}-admin", "admin")).order_by("username").first()
    agent = busiest_agent()
    print(f"  admin {admin.username}; agent {agent.username} ({agent.held:,} assignments)", flush=True)
    if args.explain:
        explain_searches(terms, admin)
    results = measure(args, terms, admin, agent)
    print(f"\nload at the end {os.getloadavg()}\n\n" + table(results))


if __name__ == "__main__":
    main()
