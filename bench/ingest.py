"""Ticket ingestion benchmark on the real stack: HDTS-style publishing → workflow_api workers → assigned tasks →
stored in-app notifications (notification_service workers).

    .venv/bin/python bench/ingest.py --count 5000

Environment as for the tests (DATABASE_URL, CELERY_BROKER_URL); the benchmark uses its own database
(``<name>_bench``, recreated each run) and purges the TTS queues of the broker's vhost, so point it at a vhost of
its own. It seeds the demo data (``seed_demo``), then measures three runs of ``--count`` tickets:

- drain: the tickets are published first, then the workers start; rate = tickets / (workers ready → last done);
- live: the workers wait, the producer publishes as fast as it can; rate = tickets / (first publish → last done);
- half: live at half the live rate;
- noop: the Celery no-op ceiling of the same moment (bench/noop_celery.py: one worker ``-c 2``, a task doing one
  Redis INCR, drained as "drain" is), so that each figure can be read as a ratio of what Celery itself does here.

``--layout groups`` runs the workers as ``manage.py worker`` (and ``runall``) does, one worker per group with intake
alone; ``--hang-outside`` adds an SMTP server and an auth service that accept connections and never answer, to see
that intake keeps its rate while email work waits on them.

"Done" is: task assigned and its assignment notification stored. Latencies are per ticket from publish (carried
in the ticket's ``created_at``) to the assignment (``Assignment.assigned_at``: the start of the transaction that
commits it) and to the stored notification (``InAppNotification.created_at``: end to end).
"""
from __future__ import annotations

import argparse
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tts.settings")
# Settings have no default secrets: each benchmark run (these scripts and the processes they start) gets its own.
for _secret_name in ("SECRET_KEY", "JWT_SIGNING_KEY"):
    os.environ.setdefault(_secret_name, secrets.token_urlsafe(48))


def bench_database_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_bench"))


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    admin = psycopg.connect(
        dbname="postgres", user=parts.username, password=parts.password, host=parts.hostname, port=parts.port or 5432,
        autocommit=True,
    )  # fmt: skip
    with admin.cursor() as cursor:
        name = parts.path.lstrip("/")
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()


class BenchWorker:
    """``celery -A tts worker`` as its own process group (stopped with it), like tests.conftest.WorkerProcess but
    with a pool choice: ``manage.py worker`` runs the same command line (see README for the production flags)."""

    def __init__(
        self, queues: tuple[str, ...], concurrency: int, pool: str, log_path: Path, env: dict[str, str],
        argv: list[str] | None = None, ready_lines: int = 1, cwd: Path = REPO,
    ) -> None:  # fmt: skip
        self.log_path = log_path
        self.ready_lines = ready_lines
        self._log = open(log_path, "w")
        self.process = subprocess.Popen(
            argv or [
                sys.executable, "-m", "celery", "-A", "tts", "worker", "-Q", ",".join(queues), "-P", pool,
                "-c", str(concurrency), "-n", f"bench-{uuid.uuid4().hex[:8]}@%h",
                "--without-gossip", "--without-mingle", "-l", "INFO",
            ],
            cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log_path.read_text().count(" ready.") >= self.ready_lines:
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            time.sleep(0.1)
        raise TimeoutError(f"worker not ready after {timeout}s")

    def stop(self, timeout: float = 30) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


@dataclass
class Result:
    name: str
    count: int
    seconds: float
    to_assigned_ms: list[float]
    to_notified_ms: list[float]
    load: str = ""

    def line(self) -> str:
        def pct(values: list[float], p: int) -> str:
            return f"{statistics.quantiles(values, n=100)[p - 1]:7.1f}" if len(values) > 1 else "    n/a"

        parts = [f"{self.name:<6} {self.count:>6} tickets in {self.seconds:6.2f} s = {self.count / self.seconds:7.0f}/s"]
        parts.append(f"load {self.load}")
        for label, values in (("assigned", self.to_assigned_ms), ("notified", self.to_notified_ms)):
            if values:
                parts.append(f"{label} p50/p95/p99 ms {pct(values, 50)} {pct(values, 95)} {pct(values, 99)}")
        return " | ".join(parts)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        from celery import Celery
        from django.conf import settings

        self.args = args
        self.hdts = Celery(broker=settings.CELERY_BROKER_URL)  # a stock app with default settings, as HDTS has
        self.log_dir = Path(args.log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.workers: list = []
        self.notifications = self._notifications_model()
        self.outside_env: dict[str, str] = {}
        if args.hang_outside:
            from tests.stubs import HangingServer

            smtp, auth = HangingServer(), HangingServer()
            self.outside_env = {
                "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend", "EMAIL_HOST": "127.0.0.1",
                "EMAIL_PORT": str(smtp.port), "EMAIL_TIMEOUT": "600", "AUTH_SERVICE_URL": f"http://127.0.0.1:{auth.port}",
            }  # fmt: skip

    @staticmethod
    def _notifications_model():
        from django.apps import apps

        try:
            return apps.get_model("notification_service", "InAppNotification")
        except LookupError:  # the notification service not there yet: measure to "assigned"
            return None

    # --- processes ---------------------------------------------------------------------------------------------
    def worker_env(self, prefetch: int) -> dict[str, str]:
        return {
            **os.environ,
            "CELERY_PREFETCH_MULTIPLIER": str(prefetch),
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            # Off as in production (the default): DEBUG on wraps every cursor to record its SQL.
            "DEBUG": "True" if self.args.debug else "False",
            **self.outside_env,
        }

    def start_workers(self, queues: tuple[str, ...], count: int, concurrency: int, prefetch: int, pool: str) -> None:
        env = self.worker_env(prefetch)
        started = [
            BenchWorker(queues, concurrency, pool, self.log_dir / f"{queues[0]}-{len(self.workers) + i}.log", env)
            for i in range(count)
        ]
        for worker in started:
            worker.wait_ready()
        self.workers += started

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers = []

    def purge(self) -> None:

        from tts_common import contracts

        with self.hdts.connection_for_write() as conn:
            for name in (*contracts.ALL_CONSUMED_QUEUES, contracts.TICKET_DLQ):
                contracts.declared_queue(name)(conn.default_channel).declare()
                conn.default_channel.queue_purge(name)

    # --- producing -----------------------------------------------------------------------------------------------
    def publish(self, prefix: str, count: int, rate: float | None) -> float:
        """Publish ``count`` tickets (at ``rate`` per second, or flat out); returns the first publish time."""
        from tts_common import contracts

        kinds = [("IT Support", "Network"), ("Procurement", "Equipment")]
        priorities = ["low", "medium", "high", "urgent"]
        started = time.time()
        with self.hdts.producer_or_acquire() as producer:
            for i in range(count):
                if rate:
                    ahead = started + i / rate - time.time()
                    if ahead > 0:
                        time.sleep(ahead)
                category, sub_category = kinds[i % 2]
                ticket = {
                    "ticket_id": f"{prefix}-{i}",
                    "title": f"Bench ticket {i}",
                    "description": "Generated by bench/ingest.py",
                    "category": category,
                    "sub_category": sub_category,
                    "priority": priorities[i % 4],
                    "requester_email": "bench@example.com",
                    "created_at": datetime.now(UTC).isoformat(),  # the publish time, for latencies
                }
                self.hdts.send_task(
                    contracts.RECEIVE_TICKET.task,
                    kwargs={"ticket_data": ticket},
                    queue=contracts.RECEIVE_TICKET.queue,
                    producer=producer,
                )
        return started

    # --- measuring -------------------------------------------------------------------------------------------------
    def rows_so_far(self) -> tuple[int, int]:
        """The highest Assignment and notification ids before a run: the run's rows are above them. Its polls and
        figures read only those (an index range), not every row of a generated history: at 1,000,000 tasks a
        count of the run's notifications by ticket prefix read all 3.3 million, 0.6 s of PostgreSQL's CPU twice
        a second, taken from the intake measured."""
        from django.db.models import Max

        from workflow_api.models import Assignment

        assignments = Assignment.objects.aggregate(top=Max("id"))["top"] or 0
        notifications = 0
        if self.notifications:
            notifications = self.notifications.objects.aggregate(top=Max("id"))["top"] or 0
        return assignments, notifications

    def _rows(self, prefix: str, floor: tuple[int, int]) -> tuple[Any, Any]:
        """The run's assignments and assignment notifications (None without the notification service)."""
        from workflow_api.models import Assignment

        assignments = Assignment.objects.filter(id__gt=floor[0], task__external_ticket_id__startswith=f"{prefix}-")
        notifications = None
        if self.notifications:
            notifications = self.notifications.objects.filter(
                id__gt=floor[1], related_ticket_id__startswith=f"{prefix}-", notification_type="task_assignment"
            )
        return assignments, notifications

    def done(self, prefix: str, floor: tuple[int, int]) -> tuple[int, int]:
        assignments, notifications = self._rows(prefix, floor)
        assigned = assignments.count()
        return assigned, notifications.count() if notifications is not None else assigned

    def wait_done(self, prefix: str, count: int, timeout: float, floor: tuple[int, int]) -> None:
        """Polls twice a second: the figures come from the rows' own timestamps, so polling more often would only
        take CPU from what is measured (every 50 ms, these two counts cost PostgreSQL ~10 % of a core)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            assigned, notified = self.done(prefix, floor)
            if assigned >= count and notified >= count:
                return
            time.sleep(0.5)
        raise TimeoutError(f"{prefix}: only {self.done(prefix, floor)} of {count} (assigned, notified) after {timeout}s")

    def measure(self, name: str, prefix: str, count: int, started: float, floor: tuple[int, int]) -> Result:
        from django.db.models import Max

        assignments, notifications = self._rows(prefix, floor)
        rows = assignments.values_list("task__external_ticket_id", "task__ticket_created_at", "assigned_at")
        published = {ticket_id: created for ticket_id, created, _ in rows}
        to_assigned = [(assigned - created).total_seconds() * 1000 for _, created, assigned in rows]
        last = max(assigned for _, _, assigned in rows)
        to_notified: list[float] = []
        if notifications is not None:
            notes = notifications.values_list("related_ticket_id", "created_at")
            to_notified = [(stored - published[ticket_id]).total_seconds() * 1000 for ticket_id, stored in notes]
            last = max(last, notes.aggregate(last=Max("created_at"))["last"])
        return Result(name, count, last.timestamp() - started, to_assigned, to_notified)

    # --- runs ------------------------------------------------------------------------------------------------------
    def noop_ceiling(self) -> str:
        """Drain ``--count`` no-op tasks with one worker ``-c 2`` (bench/noop_celery.py), as "drain" drains tickets."""
        import redis
        from django.conf import settings
        from kombu import Queue

        sys.path.insert(0, str(REPO / "bench"))
        import noop_celery

        counter = redis.Redis.from_url(settings.REDIS_URL or "redis://127.0.0.1:6379/0")
        counter.delete(noop_celery.COUNTER)
        with noop_celery.app.connection_for_write() as conn, noop_celery.app.producer_or_acquire() as producer:
            Queue(noop_celery.QUEUE)(conn.default_channel).declare()  # as the worker declares it
            conn.default_channel.queue_purge(noop_celery.QUEUE)
            for _ in range(self.args.count):
                noop_celery.noop.apply_async(queue=noop_celery.QUEUE, producer=producer)
        argv = [sys.executable, "-m", "celery", "-A", "noop_celery", "worker", "-Q", noop_celery.QUEUE, "-c", "2",
                "-n", f"noop-{uuid.uuid4().hex[:8]}@%h", "--without-gossip", "--without-mingle", "-l", "INFO"]  # fmt: skip
        # A plain Celery app: without DJANGO_SETTINGS_MODULE, so Celery's Django fixup stays out of it.
        env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
        worker = BenchWorker((), 0, "", self.log_dir / "noop.log", {**env, "PYTHONUNBUFFERED": "1"},
                             argv=argv, cwd=REPO / "bench")  # fmt: skip
        try:
            worker.wait_ready()
            started = time.time()
            deadline = started + max(120, self.args.count / 50)
            while int(counter.get(noop_celery.COUNTER) or 0) < self.args.count:
                if time.time() > deadline:
                    raise TimeoutError("no-op ceiling: the worker did not drain its queue")
                time.sleep(0.05)
            seconds = time.time() - started
        finally:
            worker.stop()
        load = "/".join(f"{value:.2f}" for value in os.getloadavg())
        return f"noop   {self.args.count:>6} tasks   in {seconds:6.2f} s = {self.args.count / seconds:7.0f}/s | load {load}"

    def run(self, name: str, rate: float | None = None, drain: bool = False) -> Result:
        args = self.args
        prefix = f"{name}-{uuid.uuid4().hex[:6]}"
        floor = self.rows_so_far()
        if drain:
            self.stop_workers()
            self.publish(prefix, args.count, None)
            self.start_all()
            started = time.time()
        else:
            started = self.publish(prefix, args.count, rate)
        self.wait_done(prefix, args.count, timeout=max(120, args.count / 50), floor=floor)
        result = self.measure(name, prefix, args.count, started, floor)
        result.load = "/".join(f"{value:.2f}" for value in os.getloadavg())
        print(result.line(), flush=True)
        return result

    def start_all(self) -> None:
        from tts_common import contracts
        from tts_common.management.commands.worker import worker_groups

        args = self.args
        if args.layout == "groups":  # exactly what `manage.py worker` (and runall) run
            worker = BenchWorker(
                (), 0, "", self.log_dir / "groups.log", self.worker_env(args.prefetch_multiplier),
                argv=[sys.executable, "manage.py", "worker", "-c", str(args.concurrency)], ready_lines=len(worker_groups()),
            )  # fmt: skip
            worker.wait_ready(120)
            self.workers.append(worker)
            return
        if self.notifications:
            self.start_workers(
                contracts.SERVICE_QUEUES["notification_service"],
                args.notify_workers,
                args.notify_concurrency,
                args.notify_prefetch_multiplier or args.prefetch_multiplier,
                args.notify_pool,
            )
        self.start_workers(
            contracts.SERVICE_QUEUES["workflow_api"], args.workers, args.concurrency, args.prefetch_multiplier, args.pool
        )


def build_parser() -> argparse.ArgumentParser:
    """The options of a run (bench/scale.py takes its drain run with these defaults)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=5000, help="tickets per run")
    parser.add_argument("--workers", type=int, default=1, help="ticket worker processes")
    parser.add_argument("--concurrency", type=int, default=2, help="pool size of each ticket worker")
    parser.add_argument("--notify-workers", type=int, default=1)
    parser.add_argument("--notify-concurrency", type=int, default=1)
    parser.add_argument(
        "--prefetch-multiplier", type=int, default=256, help="× concurrency must exceed the consumers' flush_every"
    )
    parser.add_argument("--pool", default="prefork", help="pool of the ticket workers (prefork, solo)")
    parser.add_argument("--notify-pool", default="prefork")
    parser.add_argument("--notify-prefetch-multiplier", type=int, help="default: --prefetch-multiplier")
    parser.add_argument("--debug", action="store_true", help="run the workers with DEBUG on")
    parser.add_argument(
        "--runs", default="noop,drain,live,half", help="which runs, in order (half needs live; noop: the Celery ceiling)"
    )
    parser.add_argument("--layout", choices=("split", "groups"), default="split",
                        help="split: the ticket and notification workers above; groups: `manage.py worker` as is")
    parser.add_argument("--hang-outside", action="store_true",
                        help="SMTP and the auth service accept connections and never answer")  # fmt: skip
    parser.add_argument("--half-rate", type=float, help="tickets/s of the half run (default: half the live rate)")
    parser.add_argument("--log-dir", default=str(REPO / "var" / "bench"))
    return parser


def main() -> None:
    args = build_parser().parse_args()
    # A SIGTERM (e.g. from `timeout`) must still run the cleanup below, or the workers outlive the benchmark.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    url = bench_database_url(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tts"))
    os.environ["DATABASE_URL"] = url
    recreate_database(url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("seed_demo", verbosity=0)
    bench = Bench(args)
    bench.purge()
    print(
        f"{args.count} tickets per run; {args.workers} ticket worker(s) -P {args.pool} -c {args.concurrency}, "
        f"{args.notify_workers} notification worker(s) -P {args.notify_pool} -c {args.notify_concurrency}, prefetch ×"
        f"{args.prefetch_multiplier}; layout {args.layout}{', SMTP and auth hanging' if args.hang_outside else ''}; "
        f"DEBUG {'on' if args.debug else 'off'}; load {os.getloadavg()}",
        flush=True,
    )
    results: dict[str, Result] = {}
    try:
        for name in args.runs.split(","):
            if name == "noop":
                print(bench.noop_ceiling(), flush=True)
            elif name == "drain":
                results[name] = bench.run(name, drain=True)
            else:
                if not bench.workers:
                    bench.start_all()
                time.sleep(1)  # let the workers settle (connections, timers)
                rate = None
                if name == "half":
                    rate = args.half_rate or results["live"].count / results["live"].seconds / 2
                results[name] = bench.run(name, rate=rate)
    finally:
        bench.stop_workers()


if __name__ == "__main__":
    main()
