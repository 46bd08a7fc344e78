"""``manage.py runall``: the whole system in one command — ASGI web server, the workers of every queue (grouped as
``manage.py worker`` groups them: intake alone) and the scheduler (celery beat)."""
from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from auth_service.services import DEMO_LOGINS
from tts_common.base.database import check_connection_budget
from tts_common.http.web_server import uvicorn_argv
from tts_common.management.commands.worker import all_workers
from tts_common.management.processes import run_together


class Command(BaseCommand):
    help = "Run the web server (HTTP + WebSockets), the Celery workers of every queue (intake alone) and celery beat until interrupted."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--concurrency", type=int, default=2)

    def handle(self, *args: Any, host: str, port: int, concurrency: int, **options: Any) -> None:
        workers = all_workers(concurrency, loglevel="WARNING")
        # Each worker: its main process and its pool processes (`-c N`), a connection each at most.
        try:
            check_connection_budget(sum(1 + int(argv[argv.index("-c") + 1]) for argv in workers.values()))
        except ImproperlyConfigured as refused:
            raise CommandError(str(refused)) from None
        commands = {
            "web": uvicorn_argv(host, port, "--log-level", "warning"),
            **workers,
            # The deployment's one scheduler: the jobs of settings.CELERY_BEAT_SCHEDULE (SLA scan, dead-letter drain).
            "beat": [sys.executable, "-m", "celery", "-A", "tts", "beat", "-l", "WARNING"],
        }  # fmt: skip
        self._announce(host, port)
        run_together(commands)

    def _announce(self, host: str, port: int) -> None:
        profile = "embedded (PostgreSQL from pgserver, filesystem broker, in-memory channel layer)" if settings.EMBEDDED_BROKER else "real stack"
        self.stdout.write(
            self.style.SUCCESS(f"\nTTS is running ({profile}) at http://{host}:{port}/\n")
            + f"  API docs: http://{host}:{port}/api/docs/ (log in at /admin/ first)"
            + f"   health: http://{host}:{port}/health/ready\n"
            + "  Demo logins (when seeded):\n"
            + "".join(f"    {login.username:<8} {login.password:<16} {login.role}\n" for login in DEMO_LOGINS)
            + "  Ctrl-C stops everything.\n"
        )
