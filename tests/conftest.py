"""Fixtures shared by every test: the real stack, a real Celery worker process, API clients with JWTs."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest
from celery import Celery
from django.conf import settings
from django.db import connection, connections
from kombu import Connection
from kombu.pools import ProducerPool
from psycopg import sql
from rest_framework_simplejwt.tokens import AccessToken

from tts import history
from tts_common import contracts
from tts_common.base.accounts import account_state_set, forget_cached_account_states
from tts_common.base.permissions import ADMIN, AGENT_DEFAULTS, effective_permissions
from tts_common.http.web_server import uvicorn_argv
from tts_common.messaging import outbox

REPO_ROOT = Path(__file__).resolve().parent.parent
OUTPUT_DIR = REPO_ROOT / "test-output"


def pytest_configure(config: pytest.Config) -> None:
    if settings.EMBEDDED_BROKER:
        pytest.exit(
            "The tests run on the real stack (PostgreSQL, RabbitMQ, Redis): run them with ./scripts/test, "
            "which sets DATABASE_URL, CELERY_BROKER_URL and REDIS_URL.",
            returncode=2,
        )


# --- The database between transactional tests --------------------------------------------------------------------
@pytest.fixture(scope="session", autouse=True)
def _flush_truncates_only_tables_with_rows() -> Iterator[None]:
    """A transactional test ends with Django's ``flush``: one TRUNCATE of every table (~1–2 s here for 50-odd tables,
    each given new files), after ~200 tests. A test writes a few tables: only those with a row are truncated (with
    CASCADE, which reaches only tables that are emptied anyway); the end state is the same empty database. Sequences
    are not reset by either, unless a test asks (``reset_sequences``): then every table, as Django does."""
    from django.core.management.commands import flush

    whole_flush = flush.sql_flush

    def sql_flush(style, connection, reset_sequences=True, allow_cascade=False):  # noqa: ANN001, ANN202 (Django's)
        if reset_sequences:
            return whole_flush(style, connection, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                " UNION ALL ".join(f"SELECT %s WHERE EXISTS (SELECT FROM {quote(table)})" for table in tables), tables
            )
            with_rows = [table for (table,) in cursor.fetchall()]
        return connection.ops.sql_flush(style, with_rows, reset_sequences=False, allow_cascade=True)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(flush, "sql_flush", sql_flush)
        yield


@pytest.fixture(scope="session", autouse=True)
def _passwords_hashed_once() -> Iterator[None]:
    """A password set in this process (``set_password``) is hashed at production strength once per session: PBKDF2
    costs ~1 s a hash here, and every test on the demo data seeds its 12 users. Later users with the same password
    and hasher get the same hash (the same salt): real hashes, which servers verify at full cost, as in production."""
    from django.contrib.auth import base_user, hashers

    hashed: dict[tuple[str, str, str], str] = {}

    def make_password(password, salt=None, hasher="default"):  # noqa: ANN001, ANN202 (Django's)
        if password is None or salt is not None:
            return hashers.make_password(password, salt, hasher)
        chosen = hashers.get_hasher(hasher) if isinstance(hasher, str) else hasher
        key = (password, chosen.algorithm, str(getattr(chosen, "iterations", "")))
        if key not in hashed:
            hashed[key] = hashers.make_password(password, hasher=chosen)
        return hashed[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(base_user, "make_password", make_password)
        yield


# --- Generated histories ------------------------------------------------------------------------------------------
def _server_session() -> psycopg.Connection:
    """A session on the test database's server, outside any database the tests use (for CREATE/DROP DATABASE)."""
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"], port=db["PORT"] or None, user=db["USER"], password=db["PASSWORD"] or None,
        dbname="postgres", autocommit=True,
    )  # fmt: skip


def _copy_database(source: str, target: str, *, replace: bool = False) -> None:
    """``target`` becomes a file copy of ``source`` (no session may be on ``source``: ours are closed, any other on
    the test database, such as autovacuum's, is ended)."""
    connections.close_all()
    with _server_session() as server:
        server.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [source],
        )
        if replace:
            server.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(target)))
        server.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(target), sql.Identifier(source)
            )
        )


@pytest.fixture(scope="session")
def _history_templates(django_db_setup: None) -> Iterator[dict[tuple[int, int], str]]:
    """Databases holding a generated history (by tasks and seed), each kept from the test that first wrote it."""
    templates: dict[tuple[int, int], str] = {}
    yield templates
    with _server_session() as server:
        for name in templates.values():
            server.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def generated_history(transactional_db: None, _history_templates: dict[tuple[int, int], str]) -> Callable[..., None]:
    """``generated_history(tasks=, seed=)``: the test database holds what ``history.generate(tasks=, seed=)`` writes
    into an empty one. Written once per session: the first test's database is then copied as a template (a file copy,
    seconds), which a later test's database is made from instead of writing 100,000 tasks again (minutes). Call it
    before any server or worker starts: the copy ends every session on the test database."""

    def generate(*, tasks: int, seed: int) -> None:
        test_database = connection.settings_dict["NAME"]
        template = _history_templates.get((tasks, seed))
        if template:
            _copy_database(template, test_database, replace=True)
            return
        history.generate(tasks=tasks, seed=seed)
        template = f"{test_database}_history_{tasks}_{seed}"
        _copy_database(test_database, template)
        _history_templates[(tasks, seed)] = template

    return generate


# --- Broker -----------------------------------------------------------------------------------------------------
def capture_outbox(monkeypatch: pytest.MonkeyPatch, record: Callable[[str, tuple, dict], None]) -> None:
    """What the outbox publishes goes to ``record(task, args, kwargs)`` instead of the broker (its rows are still
    written, claimed and deleted as after a confirm)."""

    def publish_batch(envelopes, retry_delays=()):  # noqa: ANN001, ANN202 (the transport's signature)
        for envelope in envelopes:
            args, kwargs, _ = json.loads(envelope.body)
            record(envelope.task, tuple(args), kwargs)

    monkeypatch.setattr(outbox, "publish_batch", publish_batch)


@pytest.fixture
def broker() -> Iterator[Connection]:
    """A kombu connection to the real broker, with every TTS queue empty at the start."""
    with Connection(settings.CELERY_BROKER_URL) as conn:
        channel = conn.default_channel
        for name in (*contracts.ALL_CONSUMED_QUEUES, contracts.TICKET_DLQ):
            contracts.declared_queue(name)(channel).declare()
            channel.queue_purge(name)
        yield conn


def queue_depth(conn: Connection, name: str) -> int:
    return contracts.declared_queue(name)(conn.default_channel).queue_declare(passive=True).message_count


# --- A real Celery worker process --------------------------------------------------------------------------------
class WorkerProcess:
    """``celery -A tts worker`` as its own process, against the test database."""

    def __init__(self, queues: tuple[str, ...], concurrency: int, log_path: Path, env: dict[str, str]) -> None:
        self.name = f"test-{uuid.uuid4().hex[:8]}@%h"
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "tts", "worker",
                "-Q", ",".join(queues), "-c", str(concurrency), "-n", self.name,
                "--without-gossip", "--without-mingle", "-l", "INFO",
            ],
            cwd=REPO_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so kill() takes the pool children too
        )  # fmt: skip

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log_path.read_text():
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}:\n{self.log()}")
            time.sleep(0.1)
        raise TimeoutError(f"worker not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text()

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children), as a crash would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def discard(self) -> None:
        """End the worker at once, as a fixture's teardown does: the test is over, and a warm shutdown took seconds
        per worker (hundreds of tests start one). Tests of shutdown itself call :meth:`stop`."""
        if self.process.poll() is None:
            self.kill()
        self._log.close()

    def stop(self, timeout: float = 30) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


def _test_database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def _process_env(overrides: dict[str, str] | None = None) -> dict[str, str]:
    """A child process's environment: the test's own (read at start, so monkeypatch.setenv applies) on the test DB,
    unless ``overrides`` points it elsewhere (the chaos tests' private servers)."""
    return {**os.environ, "DATABASE_URL": _test_database_url(), "PYTHONUNBUFFERED": "1", **(overrides or {})}


@pytest.fixture
def celery_worker(transactional_db, broker, tmp_path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start real worker processes: ``celery_worker(queues=..., concurrency=2, env={...})``; all are stopped
    afterwards. ``env`` overrides variables of the worker's environment."""
    started: list[WorkerProcess] = []

    def start(
        queues: tuple[str, ...] = contracts.ALL_CONSUMED_QUEUES, concurrency: int = 2, env: dict[str, str] | None = None
    ) -> WorkerProcess:
        worker = WorkerProcess(queues, concurrency, tmp_path / f"worker-{len(started)}.log", _process_env(env))
        started.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.discard()


def wait_for(predicate: Callable[[], object], timeout: float = 60, interval: float = 0.2, message: str = "") -> object:
    """Poll until ``predicate()`` is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {message or predicate}")


T = TypeVar("T")


def run_concurrently(function: Callable[[], T], times: int) -> list[T]:
    """Run ``function`` in ``times`` threads released together (each on its own database connection); returns what
    each returned. For races between workers on a transactional test database."""
    start = threading.Barrier(times)
    results: list[T] = []

    def run() -> None:
        start.wait()
        try:
            results.append(function())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


# --- A real ASGI server process ----------------------------------------------------------------------------------
def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """``uvicorn tts.asgi:application`` on a free loopback port, against the test database. Unless ``env`` says
    otherwise, it looks users up in its own auth service, as a whole system on one server does."""

    def __init__(self, log_path: Path, env: dict[str, str], uvicorn_args: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.process = subprocess.Popen(
            uvicorn_argv("127.0.0.1", self.port, "--log-level", "warning", *uvicorn_args),
            cwd=REPO_ROOT, env={"AUTH_SERVICE_URL": self.url, **env}, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 30) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            try:
                requests.get(f"{self.url}/health/live", timeout=1)
                return
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or slow under load
                time.sleep(0.1)
        raise TimeoutError(f"server not up after {timeout}s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


@pytest.fixture
def asgi_server(transactional_db, tmp_path) -> Iterator[Callable[..., ServerProcess]]:
    """Start real ASGI server processes: ``asgi_server(env={...})`` returns one with ``.url``; all stop afterwards.
    ``env`` overrides variables of the server's environment; ``uvicorn_args`` are added to (and win over) ours."""
    started: list[ServerProcess] = []

    def start(env: dict[str, str] | None = None, uvicorn_args: tuple[str, ...] = ()) -> ServerProcess:
        server = ServerProcess(tmp_path / f"server-{len(started)}.log", _process_env(env), uvicorn_args)
        started.append(server)
        server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()


# --- Callers -------------------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _fresh_account_states() -> Iterator[None]:
    # The per-process cache of account states would otherwise outlive the rows of a rolled-back test.
    forget_cached_account_states()
    yield
    forget_cached_account_states()


@pytest.fixture
def fast_password_hashing(settings) -> None:
    # PBKDF2 at production strength costs ~1 s per hash on these machines; MD5 is for tests only. The default
    # hashers stay listed so hashes made for a server subprocess (see test_http) can still be verified here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]


@pytest.fixture
def make_token() -> Callable[..., str]:
    """An access token as auth_service issues it, for any user id, roles, admin flag and permissions (by default an
    agent's: tts_common.base.permissions.AGENT_DEFAULTS); the user id gets an active account state (as auth_service records for every user), which every token check requires."""

    def make(
        user_id: int = 1,
        roles: dict[str, list[str]] | None = None,
        is_admin: bool = False,
        permissions: Iterable[str] = AGENT_DEFAULTS,
    ) -> str:
        account_state_set(user_id=user_id, is_active=True)
        token = AccessToken()
        token["user_id"], token["username"] = user_id, f"user{user_id}"
        token["roles"], token["is_admin"] = roles or {}, is_admin
        token["permissions"] = effective_permissions([ADMIN] if is_admin else permissions)
        return str(token)

    return make


# --- Outside producers ---------------------------------------------------------------------------------------------
def outside_celery_app(name: str = "hdts", broker_url: str | None = None) -> Celery:
    """A producer as outside clients (HDTS, auth) have one: a stock Celery app with default settings (DESIGN §2).

    kombu keys its process-wide connection pools by broker URL, so in this process a stock app would share our own
    app's connections — and their memory of which queues were declared, which tests that delete queues invalidate.
    A real outside producer has connections of its own: so does this one. Not made the current app, so that nothing
    of ours resolves to it.
    """
    broker_url = broker_url or settings.CELERY_BROKER_URL
    app = Celery(name, broker=broker_url, set_as_current=False)
    # Given explicitly: Celery prefers the CELERY_BROKER_URL environment variable (the shared broker) to ``broker``.
    app._pool = app.connection_for_write(broker_url).Pool(limit=app.conf.broker_pool_limit)
    app.amqp._producer_pool = ProducerPool(app._pool, limit=app._pool.limit)
    return app
