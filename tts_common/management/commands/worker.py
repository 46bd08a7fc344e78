"""``manage.py worker [SERVICE ...]``: a Celery worker for the named services' queues (default: all)."""
from __future__ import annotations

import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tts_common import contracts


def worker_argv(services: list[str], concurrency: int, loglevel: str = "INFO") -> list[str]:
    queues = [queue for service in services for queue in contracts.SERVICE_QUEUES[service]]
    node = "all" if len(services) == len(contracts.SERVICE_QUEUES) else "-".join(services)
    return [
        sys.executable, "-m", "celery", "-A", "tts", "worker",
        "-Q", ",".join(queues), "-c", str(concurrency), "-n", f"{node}-{os.getpid()}@%h",
        "--without-gossip", "--without-mingle", "-l", loglevel,
    ]  # fmt: skip


class Command(BaseCommand):
    help = "Run a Celery worker for the queues of the given services (all services when none is named)."

    def add_arguments(self, parser: CommandParser) -> None:
        # Checked in handle(): argparse on Python 3.11 checks an empty nargs="*" default against `choices` and fails.
        parser.add_argument("services", nargs="*", metavar="SERVICE", help=", ".join(sorted(contracts.SERVICE_QUEUES)))
        parser.add_argument("--concurrency", "-c", type=int, default=2)

    def handle(self, *args: Any, services: list[str], concurrency: int, **options: Any) -> None:
        unknown = sorted(set(services) - set(contracts.SERVICE_QUEUES))
        if unknown:
            known = ", ".join(sorted(contracts.SERVICE_QUEUES))
            raise CommandError(f"unknown service {', '.join(unknown)}; choose from {known}")
        argv = worker_argv(services or list(contracts.SERVICE_QUEUES), concurrency)
        # Replace this process so that the PID a supervisor stops is the worker's own.
        os.execv(argv[0], argv)
