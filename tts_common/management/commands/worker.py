"""``manage.py worker [SERVICE ...]``: Celery workers for the named services' queues (default: all, in groups)."""
from __future__ import annotations

import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tts_common import contracts
from tts_common.management.processes import run_together

# With no service named (and in `runall`), each group below is a worker of its own, with its own pool processes:
# intake alone, so that a hanging outside system (SMTP, the auth service, AMS/BMS) can never hold the processes
# tickets need — in one shared pool, email sends waiting on SMTP took intake from ~700 to 5 tickets/s — and each
# slow group alone, so that one outside system's outage doesn't stall the other's work. The other services share
# the last worker.
ISOLATED_GROUPS: tuple[tuple[str, ...], ...] = (("workflow_api",), ("workflow_external",), ("notification_email",))
SLOW_GROUPS = {("workflow_external",), ("notification_email",)}


def worker_groups() -> list[tuple[str, ...]]:
    isolated = {service for group in ISOLATED_GROUPS for service in group}
    rest = tuple(service for service in contracts.SERVICE_QUEUES if service not in isolated)
    return [*ISOLATED_GROUPS, *([rest] if rest else [])]


def worker_argv(services: list[str] | tuple[str, ...], concurrency: int, loglevel: str = "INFO") -> list[str]:
    queues = [queue for service in services for queue in contracts.SERVICE_QUEUES[service]]
    node = "-".join(services)
    return [
        sys.executable, "-m", "celery", "-A", "tts", "worker",
        "-Q", ",".join(queues), "-c", str(concurrency), "-n", f"{node}-{os.getpid()}@%h",
        "--without-gossip", "--without-mingle", "-l", loglevel,
    ]  # fmt: skip


def all_workers(concurrency: int, loglevel: str = "INFO") -> dict[str, list[str]]:
    """One worker per group of :func:`worker_groups`: intake and the others with ``concurrency`` pool processes,
    the slow groups (waiting on outside systems, not on the CPU) with one."""
    return {
        "worker " + "+".join(group): worker_argv(group, 1 if group in SLOW_GROUPS else concurrency, loglevel)
        for group in worker_groups()
    }


class Command(BaseCommand):
    help = (
        "Run a Celery worker for the queues of the given services; with none, one worker per group of services "
        "(intake alone), all stopped together."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        # Checked in handle(): argparse on Python 3.11 checks an empty nargs="*" default against `choices` and fails.
        parser.add_argument("services", nargs="*", metavar="SERVICE", help=", ".join(sorted(contracts.SERVICE_QUEUES)))
        parser.add_argument("--concurrency", "-c", type=int, default=2)

    def handle(self, *args: Any, services: list[str], concurrency: int, **options: Any) -> None:
        unknown = sorted(set(services) - set(contracts.SERVICE_QUEUES))
        if unknown:
            known = ", ".join(sorted(contracts.SERVICE_QUEUES))
            raise CommandError(f"unknown service {', '.join(unknown)}; choose from {known}")
        if not services:
            run_together(all_workers(concurrency))
            return
        argv = worker_argv(services, concurrency)
        # Replace this process so that the PID a supervisor stops is the worker's own.
        os.execv(argv[0], argv)
