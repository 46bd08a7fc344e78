"""The README's first command as a newcomer runs it: ``./scripts/run`` on a clean clone of this repository's HEAD (in
CI the submitted main), with nothing of the test stack in its environment. It must come up ready on the embedded
PostgreSQL, turn 30 HDTS tickets into tasks and notifications, stop cleanly on SIGINT (web, workers, beat and
PostgreSQL all gone, exit code 0), and on a second run find its data again and seed nothing twice.

The clone reuses this checkout's .venv (a symlink) to stay fast; everything else is its own: .env, var/ (PostgreSQL
data behind a Unix socket, filesystem broker), a free port.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg
import pytest
import requests

from tests.conftest import REPO_ROOT, free_port, wait_for

TICKETS = 30
DEMO_USERS = 12  # README, Demo logins
# What a newcomer's shell has: none of the test stack's DATABASE_URL, broker, Redis or secrets.
CLEAN_ENV = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
START_TIMEOUT = 150  # a first run: pip's check of the requirements, initdb, every migration, the demo seed
STOP_TIMEOUT = 60


@dataclass
class Clone:
    root: Path
    port: int

    @property
    def pgdata(self) -> Path:
        return self.root / "var" / "postgres"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.root.parent / "run.log"

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])

    def python(self, *args: str, env: dict[str, str] | None = None) -> str:
        completed = subprocess.run(
            [str(self.root / ".venv" / "bin" / "python"), *args],
            cwd=self.root, env={**CLEAN_ENV, **(env or {})}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert completed.returncode == 0, f"{args} failed:\n{completed.stdout}\n{completed.stderr}"
        return completed.stdout

    def postmaster(self) -> psutil.Process | None:
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return None
        with contextlib.suppress(psutil.NoSuchProcess):
            return psutil.Process(int(pid_file.read_text().split()[0]))
        return None


@pytest.fixture
def clone() -> Iterator[Clone]:
    with tempfile.TemporaryDirectory(prefix="tts-embedded-") as folder:
        root = Path(folder) / "tts"
        subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(root)], check=True, timeout=120)
        (root / ".venv").symlink_to((REPO_ROOT / ".venv").resolve())
        made = Clone(root, free_port())
        yield made
        # A failed test leaves nothing running: what a second SIGTERM did not stop is killed.
        postmaster = made.postmaster()
        if postmaster is not None:
            postmaster.send_signal(signal.SIGQUIT)  # immediate shutdown
            _, alive = psutil.wait_procs([postmaster], timeout=10)
            for process in alive:
                process.kill()


@contextlib.contextmanager
def running(clone: Clone) -> Iterator[subprocess.Popen[bytes]]:
    """``./scripts/run --port <free port>`` in its own process group, ready; killed whole if the body fails."""
    with open(clone.log, "a") as log:
        run = subprocess.Popen(
            [str(clone.root / "scripts" / "run"), "--port", str(clone.port)],
            cwd=clone.root, env=CLEAN_ENV, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _ready(clone):
            assert run.poll() is None, f"./scripts/run exited with {run.returncode}:\n{clone.log_tail()}"
            assert time.monotonic() < deadline, f"not ready within {START_TIMEOUT}s:\n{clone.log_tail()}"
            time.sleep(1)
        yield run
    finally:
        if run.poll() is None:
            run.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                run.wait(STOP_TIMEOUT)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)


def _ready(clone: Clone) -> bool:
    try:
        return requests.get(f"{clone.url}/health/ready", timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


def _command_line(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.NoSuchProcess:  # a short-lived child (a PostgreSQL backend, autovacuum) ended since it was listed
        return ""


def _stop_cleanly(clone: Clone, run: subprocess.Popen[bytes]) -> None:
    """SIGINT to the command alone (as a process supervisor would send it): everything it started must go."""
    launcher = psutil.Process(run.pid)
    postmaster = clone.postmaster()
    assert postmaster is not None and postmaster.is_running(), "no embedded PostgreSQL while ready"
    processes = [launcher, *launcher.children(recursive=True), postmaster, *postmaster.children(recursive=True)]
    commands = [_command_line(process) for process in processes]
    for part in ("uvicorn tts.asgi:application", "celery -A tts worker", "celery -A tts beat", "pgserver/pginstall/bin/postgres"):
        assert any(part in command for command in commands), f"no {part!r} among {commands}"
    run.send_signal(signal.SIGINT)
    code = run.wait(STOP_TIMEOUT)
    assert code == 0, f"./scripts/run exited with {code} on SIGINT:\n{clone.log_tail()}"
    _, alive = psutil.wait_procs(processes, timeout=10)
    assert not alive, f"still running after ./scripts/run stopped: {[p.cmdline() for p in alive]}"
    # A clean (not crashed) shutdown of PostgreSQL: its pid file is gone and its log says so.
    assert not (clone.pgdata / "postmaster.pid").exists()
    assert (clone.pgdata / "log").read_text().rstrip().endswith("database system is shut down")


def _admin_get(clone: Clone, path: str) -> dict:
    token = requests.post(
        f"{clone.url}/token/", json={"username": "admin", "password": "admin-demo-pass"}, timeout=10
    ).json()["access_token"]
    response = requests.get(f"{clone.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _count(database_url: str, sql: str) -> int:
    with contextlib.closing(psycopg.connect(database_url)) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


@pytest.mark.slow
@pytest.mark.timeout(480)  # two starts and stops, each wait bounded (START_TIMEOUT, STOP_TIMEOUT)
def test_embedded_command_on_a_clean_clone(clone: Clone) -> None:
    with running(clone) as run:
        health = requests.get(f"{clone.url}/health/ready", timeout=5).json()
        assert health["checks"]["database"]["backend"] == "PostgreSQL"
        assert health["checks"]["broker"]["backend"].startswith("Filesystem")
        # As the README tells a newcomer: the running server's URL, then HDTS tickets from another shell.
        database_url = clone.python("scripts/embedded_postgres.py", "url").strip()
        assert database_url.startswith("postgresql://") and str(clone.pgdata) in database_url
        clone.python(
            "manage.py", "produce_tickets", "--count", str(TICKETS), "--seed", "13", "--no-progress",
            env={"DATABASE_URL": database_url},
        )  # fmt: skip

        def all_taken() -> bool:
            tasks = _admin_get(clone, "/tasks/")["count"]
            unrouted = _admin_get(clone, "/unrouted-tickets/")["count"]
            return tasks + unrouted == TICKETS and tasks > 0

        wait_for(all_taken, timeout=60, interval=1, message=f"{TICKETS} tickets to become tasks or unrouted tickets")
        tasks = _admin_get(clone, "/tasks/?page_size=100")["results"]
        assigned = sum(1 for task in tasks if task["assigned_user"] is not None)
        assert assigned > 0, tasks
        # Each assignment tells its assignee (the notification workers, through the filesystem broker).
        wait_for(
            lambda: _count(
                database_url,
                "SELECT count(*) FROM notification_service_inappnotification WHERE notification_type = 'task_assignment'",
            ) >= assigned,
            timeout=60, interval=1, message="an assignment notification per assigned task",
        )  # fmt: skip
        _stop_cleanly(clone, run)

    # Again: the data is where it was, and seeding the demo a second time changes nothing.
    with running(clone) as run:
        assert _admin_get(clone, "/tasks/")["count"] == len(tasks)
        assert _admin_get(clone, "/api/v1/users/")["count"] == DEMO_USERS
        _stop_cleanly(clone, run)
    log = clone.log.read_text()
    assert log.count("Demo data ready") == 2
    assert "Traceback" not in log, clone.log_tail()


@pytest.mark.parametrize(
    ("value", "refusal"),
    [("", "DATABASE_URL is not set"), ("sqlite:////tmp/tts.sqlite3", "TTS runs on PostgreSQL only")],
)
def test_no_process_starts_without_postgresql(value: str, refusal: str) -> None:
    """One SQL dialect: nothing runs on a guessed default or on SQLite, whose twins of the hot writes are gone."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=REPO_ROOT, env={**os.environ, "DATABASE_URL": value},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and refusal in result.stderr, result.stderr
