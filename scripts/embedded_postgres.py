"""The embedded default's PostgreSQL: the server of the pip-installed ``pgserver`` package, its data in var/postgres
(kept across runs), reachable only through its Unix socket (no TCP port, so it cannot collide with another server).

    embedded_postgres.py run COMMAND...   start it (initdb the first time), run COMMAND with DATABASE_URL set to its
                                          database ``tts``, and stop it (fast shutdown) when COMMAND ends; SIGINT and
                                          SIGTERM are passed on to COMMAND. Exits with COMMAND's code.
    embedded_postgres.py url              print the DATABASE_URL of the running server (for manage.py in another
                                          shell); exit code 1 when it is not running.

./scripts/run uses ``run``. The server lives exactly as long as that one command: the settings never start one (every
web, worker and beat process reads them), and a run killed outright leaves a server that the next run adopts.
"""
from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path
from types import FrameType

# pgserver keeps its lock file in the user's runtime folder; without XDG_RUNTIME_DIR (CI, root) /tmp/runtime-<uid>.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
import pgserver  # noqa: E402
from pgserver._commands import pg_ctl  # noqa: E402
from pgserver.utils import PostmasterInfo  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TTS_VAR_DIR", REPO_ROOT / "var"))
PGDATA = VAR_DIR / "postgres"
# Held while a run uses the server: a second ./scripts/run on the same var/ would stop it under the first.
LOCK_FILE = VAR_DIR / "postgres.lock"
DATABASE = "tts"
# The server listens only on this socket in PGDATA (mode 0700: its owner and root only), whose path must fit in
# sockaddr_un.sun_path (108 bytes with the final NUL on Linux).
SOCKET_NAME = ".s.PGSQL.5432"
SOCKET_PATH_MAX = 108
STOP_TIMEOUT_SECONDS = 60


def running_url() -> str | None:
    info = PostmasterInfo.read_from_pgdata(PGDATA) if PGDATA.exists() else None
    return info.get_uri(database=DATABASE) if info is not None and info.is_running() else None


def run(command: list[str]) -> int:
    if len(os.fsencode(PGDATA / SOCKET_NAME)) >= SOCKET_PATH_MAX:
        # pgserver would then put the socket in a shared runtime folder, world-writable when run as root: with trust
        # authentication anyone on the machine could connect as the superuser.
        print(f"{PGDATA} is too long a path for PostgreSQL's Unix socket: use a checkout with a shorter path "
              "(or TTS_VAR_DIR).", file=sys.stderr)  # fmt: skip
        return 1
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    lock = open(LOCK_FILE, "w")  # noqa: SIM115 (held until this process exits)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"Another ./scripts/run is using the embedded PostgreSQL in {PGDATA}: stop it first.", file=sys.stderr)
        return 1
    received: list[int] = []
    child: subprocess.Popen[bytes] | None = None

    def pass_on(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if child is not None:
            child.send_signal(signum)

    # From here on SIGINT and SIGTERM go to COMMAND (a terminal's Ctrl-C reaches it directly as well): COMMAND
    # decides how to stop, and this process stops the server after it.
    signal.signal(signal.SIGINT, pass_on)
    signal.signal(signal.SIGTERM, pass_on)
    # cleanup_mode=None: this function stops the server itself, whatever pgserver's per-process bookkeeping holds.
    server = pgserver.get_server(PGDATA, cleanup_mode=None)
    try:
        if received:  # interrupted while the server started: run nothing
            return 128 + received[0]
        env = {**os.environ, "DATABASE_URL": server.get_uri(database=DATABASE), "TTS_EMBEDDED_POSTGRES": str(PGDATA)}
        print(f"Embedded PostgreSQL in {PGDATA}; for manage.py in another shell:", flush=True)
        print(f"  export DATABASE_URL='{env['DATABASE_URL']}'", flush=True)
        child = subprocess.Popen(command, env=env)
        if received:  # arrived while COMMAND was being started
            child.send_signal(received[-1])
        code = child.wait()
        return code if code >= 0 else 128 - code
    finally:
        # Whatever happened to COMMAND (Ctrl-C during start-up included): no server is left behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if running_url() is not None:  # not stopped or killed by someone else meanwhile
            pg_ctl(["-w", "-m", "fast", "-t", str(STOP_TIMEOUT_SECONDS), "stop"], pgdata=PGDATA, user=server.system_user)
        print("Embedded PostgreSQL stopped.", flush=True)


def main(argv: list[str]) -> int:
    if argv[:1] == ["run"] and len(argv) > 1:
        return run(argv[1:])
    if argv == ["url"]:
        url = running_url()
        if url is None:
            print(f"The embedded PostgreSQL ({PGDATA}) is not running: start ./scripts/run.", file=sys.stderr)
            return 1
        print(url)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
