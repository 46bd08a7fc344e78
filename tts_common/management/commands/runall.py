"""``manage.py runall``: the whole system in one command — ASGI web server, a worker for every queue and the
scheduler (celery beat)."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from tts_common import contracts

from .worker import worker_argv


class Command(BaseCommand):
    help = "Run the web server (HTTP + WebSockets), one Celery worker for all queues and celery beat until interrupted."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--concurrency", type=int, default=2)

    def handle(self, *args: Any, host: str, port: int, concurrency: int, **options: Any) -> None:
        commands = {
            # --no-proxy-headers: uvicorn would take X-Forwarded-For from loopback peers as the client's address;
            # which proxies to believe is the app's NUM_PROXIES (login and API throttling), and nothing else.
            "web": [sys.executable, "-m", "uvicorn", "tts.asgi:application", "--host", host, "--port", str(port),
                    "--log-level", "warning", "--no-proxy-headers"],
            "worker": worker_argv(list(contracts.SERVICE_QUEUES), concurrency, loglevel="WARNING"),
            # The deployment's one scheduler: the jobs of settings.CELERY_BEAT_SCHEDULE (SLA scan, dead-letter drain).
            "beat": [sys.executable, "-m", "celery", "-A", "tts", "beat", "-l", "WARNING"],
        }  # fmt: skip
        children = {name: subprocess.Popen(argv) for name, argv in commands.items()}
        self._announce(host, port)

        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exited = None
        while not stopping and exited is None:
            time.sleep(0.5)
            exited = next((name for name, child in children.items() if child.poll() is not None), None)
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        for child in children.values():
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                child.kill()
        if exited:
            raise SystemExit(f"{exited} exited with code {children[exited].returncode}; stopped the rest.")

    def _announce(self, host: str, port: int) -> None:
        from auth_service.services import DEMO_LOGINS

        profile = "embedded (SQLite, filesystem broker, in-memory channel layer)" if settings.EMBEDDED_BROKER else "real stack"
        self.stdout.write(
            self.style.SUCCESS(f"\nTTS is running ({profile}) at http://{host}:{port}/\n")
            + f"  API docs: http://{host}:{port}/api/docs/   health: http://{host}:{port}/health/ready\n"
            + "  Demo logins (when seeded):\n"
            + "".join(f"    {login.username:<8} {login.password:<16} {login.role}\n" for login in DEMO_LOGINS)
            + "  Ctrl-C stops everything.\n"
        )
