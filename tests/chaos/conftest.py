"""Private servers for the chaos tests: a RabbitMQ node and a PostgreSQL cluster of their own, which the tests stop and
restart. The shared servers serve other suites running at the same time, so they are never touched here.

Both run as their service's OS user when the tests run as root (RabbitMQ reads the Erlang cookie of its home,
PostgreSQL refuses root), from a temporary folder that user owns, on free loopback ports.
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from kombu import Connection

from tests.conftest import REPO_ROOT, free_port
from tests.workflow_api.test_ingestion_queue import seeded  # noqa: F401 (a fixture the chaos tests share)
from tts_common import contracts

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
POSTGRES_BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda path: int(path.parent.name), default=None)


def _owned_folder(prefix: str, user: str) -> Path:
    """A fresh folder under /tmp (pytest's own are private to root) that ``user`` owns."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        account = pwd.getpwnam(user)
        os.chown(folder, account.pw_uid, account.pw_gid)
    return folder


def _as(user: str, command: list[str]) -> list[str]:
    return ["runuser", "-u", user, "--", *command] if os.geteuid() == 0 else command


class PrivateRabbitMQ:
    """A RabbitMQ node named ``tts-chaos-<random>@localhost`` with its own ports, data (so durable queues and
    persistent messages survive a restart, as on the shared node) and no plugins. Every command names the node."""

    def __init__(self) -> None:
        self.base = _owned_folder("tts-chaos-rabbitmq-", "rabbitmq")
        self.node = f"tts-chaos-{uuid.uuid4().hex[:8]}@localhost"
        self.port = free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        # Our own config: the system one sets the shared node's listener (5672), which this node must not take.
        self._write("rabbitmq.conf", f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        self._write("rabbitmq-env.conf", "")
        self._write("enabled_plugins", "[].\n")
        self.env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def _write(self, name: str, text: str) -> None:
        (self.base / name).write_text(text)
        if os.geteuid() == 0:
            shutil.chown(self.base / name, "rabbitmq")

    def start(self, timeout: float = 90) -> None:
        with open(self.base / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                _as("rabbitmq", [str(RABBITMQ_BIN / "rabbitmq-server")]),
                env=self.env, cwd=self.base, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # the port opens before the node has booted: wait for an AMQP session
            if self.process.poll() is not None:
                raise RuntimeError(f"RabbitMQ node exited with {self.process.returncode}:\n{self.log()}")
            try:
                with Connection(self.url, connect_timeout=2) as conn:
                    conn.ensure_connection(max_retries=1)
                    conn.channel().close()
                return
            except Exception:  # still booting
                time.sleep(0.2)
        raise TimeoutError(f"RabbitMQ node not up after {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        """A clean shutdown (``rabbitmqctl stop``), as an operator's restart does; returns once the node is gone."""
        assert self.process is not None
        subprocess.run(
            _as("rabbitmq", [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.node, "stop"]),
            env=self.env, check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        self.process.wait(60)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def log(self) -> str:
        return (self.base / "server.log").read_text(errors="replace")[-5000:]


class PrivatePostgres:
    """A PostgreSQL cluster (``initdb``, trust auth, loopback only, no fsync: its data need not outlive the test)
    holding one migrated TTS database."""

    def __init__(self) -> None:
        assert POSTGRES_BIN is not None, "PostgreSQL server binaries not found under /usr/lib/postgresql"
        self.base = _owned_folder("tts-chaos-postgres-", "postgres")
        self.data = self.base / "data"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/tts"
        self._pg(["initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])

    def _pg(self, command: list[str]) -> None:
        subprocess.run(
            _as("postgres", [str(POSTGRES_BIN / command[0]), *command[1:]]),
            cwd=self.base, check=True, capture_output=True, timeout=60,
        )  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base} -c fsync=off"
        self._pg(["pg_ctl", "-D", str(self.data), "-l", str(self.base / "server.log"), "-o", options, "-w", "start"])

    def stop(self, mode: str = "fast") -> None:
        """``fast`` disconnects every client at once, as a database failover or crash does to them."""
        self._pg(["pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop"])

    def connect(self, dbname: str = "tts") -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname)

    def manage(self, *args: str) -> None:
        """``manage.py ARGS`` against this database."""
        subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO_ROOT, env={**os.environ, "DATABASE_URL": self.url}, check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    def create(self) -> None:
        admin = self.connect("postgres")
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute("CREATE DATABASE tts")
        admin.close()
        self.manage("migrate", "--noinput")


@pytest.fixture(scope="session")
def private_rabbitmq() -> Iterator[PrivateRabbitMQ]:
    node = PrivateRabbitMQ()
    try:
        node.start()
        yield node
    finally:
        node.kill()
        shutil.rmtree(node.base, ignore_errors=True)


@pytest.fixture
def private_broker(private_rabbitmq: PrivateRabbitMQ) -> Iterator[PrivateRabbitMQ]:
    """The private node, up, with every TTS queue empty at the start."""
    if private_rabbitmq.process is None or private_rabbitmq.process.poll() is not None:
        private_rabbitmq.start()  # a failed test may have left it stopped
    with Connection(private_rabbitmq.url) as conn:
        for name in (*contracts.ALL_CONSUMED_QUEUES, contracts.TICKET_DLQ):
            contracts.declared_queue(name)(conn.default_channel).declare()
            conn.default_channel.queue_purge(name)
    yield private_rabbitmq


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A fresh cluster with a migrated, empty TTS database."""
    cluster = PrivatePostgres()
    try:
        cluster.start()
        cluster.create()
        yield cluster
    finally:
        try:
            cluster.stop(mode="immediate")
        except subprocess.CalledProcessError:  # already stopped
            pass
        shutil.rmtree(cluster.base, ignore_errors=True)
