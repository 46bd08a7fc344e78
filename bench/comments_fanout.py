"""Live comment feed benchmark on the real stack (PostgreSQL, Redis channel layer), loopback only.

    .venv/bin/python bench/comments_fanout.py                       # starts its own uvicorn
    .venv/bin/python bench/comments_fanout.py --url http://127.0.0.1:8000 --pid 1234   # a running server

1. Fan-out: ``--clients`` WebSocket clients join the feeds of ``--tickets`` tickets (spread evenly; default one);
   ``--posts`` comments are POSTed one at a time to the tickets in turn (each once every client of its ticket got
   it). Latency = time from just before the POST is sent to the moment the event's bytes reach a client's socket,
   so it includes the POST's own work (auth, insert, commit, broadcast). Clients, server, PostgreSQL and Redis
   share this machine's cores: the figures are an upper bound.
2. Idle memory: ``--idle`` authenticated connections are opened (each answered one ping, so it is fully joined)
   and held; memory per connection = server RSS delta / count (needs the server's PID: given, or ours).

Without ``--url`` the server runs on the database ``<DATABASE_URL name>_comments_bench`` (created and migrated if
missing, with an active account state for the benchmark's user id) with the environment's REDIS_URL; with ``--url``
that server's database needs ``tts_common.base.accounts.account_state_set(user_id=990001, is_active=True)``. Extra uvicorn
flags go in ``--uvicorn-args``. Targets (2 cores):
p99 < 100 ms, < 50 KiB per idle connection.

Only a ticket's participants open its feed: the benchmark's user (an agent, not an admin) is recorded as taking part
in its tickets in the server's database, as the ``messaging.ticket_participants.sync`` consumer records them (with
``--url``, the environment's DATABASE_URL must be that server's).
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import secrets
import shlex
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tts.settings")
# Settings have no default secrets: the run (this script, its server and the tokens it mints) gets its own.
for _secret_name in ("SECRET_KEY", "JWT_SIGNING_KEY"):
    os.environ.setdefault(_secret_name, secrets.token_urlsafe(48))

PING = json.dumps({"type": "ping"})


# The benchmark's user: no account in the auth service, only the account state every token check requires.
BENCH_USER_ID, BENCH_USERNAME = 990001, "bench"


def mint_token() -> str:
    """A JWT for a benchmark user, signed with the key the server verifies with (same settings/environment)."""
    import django

    django.setup()
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken()
    token["user_id"], token["username"], token["roles"], token["is_admin"] = BENCH_USER_ID, BENCH_USERNAME, {"TTS": []}, False
    return str(token)


def bench_ticket(prefix: str) -> str:
    """A new ticket id whose participant is the benchmark user (call after :func:`mint_token`, which sets Django up)."""
    from messaging_service.services import ticket_participants_record

    ticket_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
    ticket_participants_record(
        [{"ticket_id": ticket_id, "task_id": str(uuid.uuid4()),
          "participants": [{"user_id": BENCH_USER_ID, "username": BENCH_USERNAME}]}]
    )  # fmt: skip
    return ticket_id


def raise_descriptor_limit() -> None:
    """Clients and (inherited) our server each hold one descriptor per socket."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


# --- Server --------------------------------------------------------------------------------------------------------
def bench_database_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_comments_bench"))


def start_server(uvicorn_args: list[str]) -> tuple[subprocess.Popen, str]:
    """uvicorn on the environment's DATABASE_URL (set to the benchmark's database by :func:`main`)."""
    from tts_common.http.web_server import uvicorn_argv

    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    python = sys.executable
    subprocess.run([python, "scripts/create_database.py"], cwd=REPO, env=env, check=True)
    for app in ("messaging_service", "tts_common"):
        subprocess.run([python, "manage.py", "migrate", app, "--noinput", "-v", "0"],
                       cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    subprocess.run([python, "manage.py", "shell", "-c", "from tts_common.base.accounts import account_state_set; "
                    f"account_state_set(user_id={BENCH_USER_ID}, is_active=True)"],
                   cwd=REPO, env=env, check=True)  # fmt: skip
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        uvicorn_argv("127.0.0.1", port, "--log-level", "warning", "--backlog", "4096", *uvicorn_args),
        cwd=REPO, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"{url}/health/live", timeout=5)
            return server, url
        except requests.RequestException as exc:
            if server.poll() is not None:
                raise SystemExit(f"server exited with {server.returncode}") from exc
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("server did not start within 60 s")


# --- Clients -------------------------------------------------------------------------------------------------------
class FeedClient(asyncio.Protocol):
    """A minimal WebSocket client (RFC 6455 handshake, masked text frames out, unmasked frames in).

    500 clients of a full client library in one Python process measure mostly that library; this one stamps the
    moment an event's bytes reach the socket, so the figures are the server's (and the network stack's)."""

    def __init__(self, path: str, host: str) -> None:
        self.request = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n").encode()  # fmt: skip
        self.buffer = b""
        self.upgraded = asyncio.Event()
        self.messages: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        arrived = time.perf_counter()
        self.buffer += data
        if not self.upgraded.is_set():
            head, sep, self.buffer = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                self.buffer = head
                return
            if not head.startswith(b"HTTP/1.1 101"):
                raise ConnectionError(head.decode(errors="replace"))
            self.upgraded.set()
        while len(self.buffer) >= 2:
            length, offset = self.buffer[1] & 0x7F, 2
            if length == 126:
                length, offset = int.from_bytes(self.buffer[2:4], "big"), 4
            elif length == 127:
                length, offset = int.from_bytes(self.buffer[2:10], "big"), 10
            if len(self.buffer) < offset + length:
                return
            opcode, payload = self.buffer[0] & 0x0F, self.buffer[offset : offset + length]
            self.buffer = self.buffer[offset + length :]
            if opcode == 0x1:  # text
                self.messages.put_nowait((arrived, payload))
            elif opcode == 0x9:  # the server's keepalive ping
                self._send(0xA, payload)

    def _send(self, opcode: int, payload: bytes) -> None:
        assert len(payload) < 126
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def send_text(self, text: str) -> None:
        self._send(0x1, text.encode())

    async def recv(self) -> tuple[float, dict]:
        arrived, payload = await asyncio.wait_for(self.messages.get(), timeout=30)
        return arrived, json.loads(payload)

    def close(self) -> None:
        self.transport.close()


async def open_clients(url: str, paths: list[str], concurrency: int = 100) -> list[FeedClient]:
    """One feed connection per path (in their order), each past its connect handler (one ping answered)."""
    host = urlsplit(url)
    limit = asyncio.Semaphore(concurrency)

    async def one(path: str) -> FeedClient:
        async with limit:
            _transport, client = await asyncio.get_running_loop().create_connection(
                lambda: FeedClient(path, host.netloc), host.hostname, host.port
            )
            # Frames sent before the 101 would be lost by the server's handshake.
            await asyncio.wait_for(client.upgraded.wait(), timeout=30)
            client.send_text(PING)
            _arrived, message = await client.recv()
            assert message == {"type": "pong"}, message
            return client

    return list(await asyncio.gather(*(one(path) for path in paths)))


def close_all(clients: list[FeedClient]) -> None:
    for client in clients:
        client.close()


async def fanout(url: str, token: str, tickets: list[str], clients_count: int, posts: int) -> dict[str, float]:
    """``clients_count`` clients spread evenly over the ``tickets``' feeds; ``posts`` comments POSTed one at a time
    to the tickets in turn, each once every client of its ticket got it."""
    paths = [f"/ws/comments/{tickets[n % len(tickets)]}/?token={token}" for n in range(clients_count)]
    clients = await open_clients(url, paths)
    feeds: dict[str, list[FeedClient]] = {ticket: clients[n :: len(tickets)] for n, ticket in enumerate(tickets)}
    latencies: list[float] = []
    post_times: list[float] = []
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    try:
        for n in range(posts):
            ticket = tickets[n % len(tickets)]
            sent = time.perf_counter()
            response = await asyncio.to_thread(
                session.post, f"{url}/api/comments/", json={"ticket_id": ticket, "text": f"bench {n}"}, timeout=30
            )
            post_times.append(time.perf_counter() - sent)
            response.raise_for_status()
            for client in feeds[ticket]:
                arrived, event = await client.recv()
                assert event["comment"]["id"] == response.json()["id"], event
                latencies.append(arrived - sent)
            await asyncio.sleep(0.05)
    finally:
        close_all(clients)
    return {
        "samples": len(latencies),
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
        "post_p50_ms": statistics.median(post_times) * 1000,
    }


async def idle_memory(url: str, token: str, pid: int, count: int) -> dict[str, float]:
    path = f"/ws/comments/{await asyncio.to_thread(bench_ticket, 'bench-idle')}/?token={token}"
    # Warm up allocators and lazy imports with a few sockets, so the delta is the connections' own cost.
    close_all(await open_clients(url, [path] * 50))
    await asyncio.sleep(1)
    before = rss_kib(pid)
    clients = await open_clients(url, [path] * count)
    await asyncio.sleep(2)
    after = rss_kib(pid)
    close_all(clients)
    await asyncio.sleep(1)
    return {"connections": count, "rss_before_mib": before / 1024, "rss_after_mib": after / 1024,
            "kib_per_connection": (after - before) / count}  # fmt: skip


async def run(args: argparse.Namespace, url: str, pid: int | None) -> None:
    token = mint_token()
    tickets = [await asyncio.to_thread(bench_ticket, "bench") for _ in range(args.tickets)]
    result = await fanout(url, token, tickets, args.clients, args.posts)
    print(f"fan-out: {args.clients} clients over {len(tickets)} ticket(s) ({tickets[0]}, ...), {args.posts} comments "
          f"= {result['samples']} deliveries")
    print(f"  POST -> receipt latency  p50 {result['p50_ms']:.1f} ms   p99 {result['p99_ms']:.1f} ms   "
          f"max {result['max_ms']:.1f} ms   (POST round trip p50 {result['post_p50_ms']:.1f} ms)")  # fmt: skip
    if pid is None:
        print("idle memory: skipped (pass --pid of the server process)")
        return
    memory = await idle_memory(url, token, pid, args.idle)
    print(f"idle: {memory['connections']} connections, server RSS {memory['rss_before_mib']:.1f} -> "
          f"{memory['rss_after_mib']:.1f} MiB = {memory['kib_per_connection']:.1f} KiB per connection")  # fmt: skip
    ok = result["p99_ms"] < 100 and memory["kib_per_connection"] < 50
    print(f"targets (p99 < 100 ms, < 50 KiB/connection): {'met' if ok else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running server (default: start one)")
    parser.add_argument("--pid", type=int, help="the running server's PID, for the memory figure")
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--tickets", type=int, default=1, help="feeds the clients are spread over")
    parser.add_argument("--posts", type=int, default=20, help="comments, to the tickets in turn")
    parser.add_argument("--idle", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=300, help="give up after this many seconds")
    parser.add_argument("--uvicorn-args", default="", help='extra flags for our server, e.g. "--ws wsproto"')
    args = parser.parse_args()
    raise_descriptor_limit()
    server = None
    if not args.url:
        # Ours and the server's: the tickets' participants are recorded where the server reads them.
        os.environ["DATABASE_URL"] = bench_database_url(os.environ["DATABASE_URL"])
    import django

    django.setup()  # before start_server's import of the web server module, which needs the apps loaded
    if args.url:
        url, pid = args.url.rstrip("/"), args.pid
    else:
        server, url = start_server(shlex.split(args.uvicorn_args))
        pid = server.pid
        print(f"server: uvicorn {args.uvicorn_args or '(default flags)'} at {url}, pid {pid}")
    try:
        asyncio.run(asyncio.wait_for(run(args, url, pid), timeout=args.timeout))
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                # Seen after ~1,000 sockets: uvicorn's graceful shutdown keeps waiting on finished connections.
                print("server did not stop within 15 s of SIGTERM; killed")
                server.kill()
                server.wait()


if __name__ == "__main__":
    main()
