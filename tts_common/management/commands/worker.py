"""``manage.py worker [SERVICE ...]``: a Celery worker for the named services' queues (default: all)."""
from __future__ import annotations

import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

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
        parser.add_argument("services", nargs="*", choices=sorted(contracts.SERVICE_QUEUES), metavar="SERVICE")
        parser.add_argument("--concurrency", "-c", type=int, default=2)

    def handle(self, *args: Any, services: list[str], concurrency: int, **options: Any) -> None:
        argv = worker_argv(services or list(contracts.SERVICE_QUEUES), concurrency)
        # Replace this process so that the PID a supervisor stops is the worker's own.
        os.execv(argv[0], argv)
