"""HTTP load with Debian's ``wrk`` (``apt-get install wrk``): closed-loop clients, each request as one of many users.

wrk keeps ``connections`` requests in flight; its Lua script cycles through the given requests (each with its own
bearer token, so that many users share the load as they would), counts the answers by status and prints, at the
end, what :func:`run_wrk` parses. Used by bench/scale.py and tests/scale/test_query_plans.py's load test.
"""
from __future__ import annotations

import json
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Request:
    path: str
    token: str
    method: str = "GET"
    body: dict | None = None


@dataclass(frozen=True)
class LoadResult:
    connections: int
    seconds: float
    statuses: dict[int, int]
    socket_errors: dict[str, int]
    percentiles_ms: dict[int, float] = field(default_factory=dict)

    @property
    def answers(self) -> int:
        return sum(self.statuses.values())

    @property
    def successes_per_second(self) -> float:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300) / self.seconds

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def line(self) -> str:
        p = self.percentiles_ms
        return (
            f"{self.connections} clients, {self.seconds:.0f} s: {self.answers} answers, "
            f"{self.successes_per_second:.0f} successful/s, p50 {p[50]:.0f} / p95 {p[95]:.0f} / p99 {p[99]:.0f} ms, "
            f"statuses {dict(sorted(self.statuses.items()))}, socket errors {self.socket_errors}"
        )


_SCRIPT = """
local requests = %(requests)s
local count = #requests
local threads, started = {}, 0

function setup(thread)
  started = started + 1
  thread:set("first", started * 7919)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  next_one = first
end

function request()
  next_one = next_one + 1
  local r = requests[(next_one %% count) + 1]
  local headers = {["Authorization"] = "Bearer " .. r.token}
  if r.body then headers["Content-Type"] = "application/json" end
  return wrk.format(r.method, r.path, headers, r.body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do io.write(string.format("tts-status %%d %%d\\n", status, n)) end
  end
  local e = summary.errors
  io.write(string.format("tts-errors connect=%%d read=%%d write=%%d timeout=%%d\\n", e.connect, e.read, e.write, e.timeout))
  io.write(string.format("tts-seconds %%f\\n", summary.duration / 1e6))
  for _, p in ipairs({50, 95, 99}) do io.write(string.format("tts-p %%d %%f\\n", p, latency:percentile(p) / 1e3)) end
end
"""


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string of ASCII text is a valid Lua string literal


def _lua_requests(requests: list[Request]) -> str:
    rows = []
    for r in requests:
        body = f", body = {_lua_string(json.dumps(r.body))}" if r.body is not None else ""
        rows.append(f"{{method = {_lua_string(r.method)}, path = {_lua_string(r.path)}, token = {_lua_string(r.token)}{body}}}")
    return "{\n" + ",\n".join(rows) + "\n}"


def run_wrk(base_url: str, requests: list[Request], *, connections: int, seconds: float, threads: int = 2,
            timeout_seconds: float = 60) -> LoadResult:  # fmt: skip
    """``connections`` clients for ``seconds`` against ``base_url``, cycling through ``requests``."""
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "load.lua"
        script.write_text(_SCRIPT % {"requests": _lua_requests(requests)})
        output = subprocess.run(
            ["wrk", "-t", str(min(threads, connections)), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
             "--timeout", f"{max(1, round(timeout_seconds))}s", "-s", str(script), base_url],
            capture_output=True, text=True, check=True, timeout=seconds + timeout_seconds + 30,
        ).stdout  # fmt: skip
    statuses: dict[int, int] = {}
    for status, n in re.findall(r"^tts-status (\d+) (\d+)$", output, re.M):
        statuses[int(status)] = statuses.get(int(status), 0) + int(n)
    errors = {name: int(n) for name, n in re.findall(r"(\w+)=(\d+)", re.search(r"^tts-errors (.*)$", output, re.M)[1])}
    return LoadResult(
        connections=connections,
        seconds=float(re.search(r"^tts-seconds (\S+)$", output, re.M)[1]),
        statuses=statuses,
        socket_errors={name: n for name, n in errors.items() if n},
        percentiles_ms={int(p): float(ms) for p, ms in re.findall(r"^tts-p (\d+) (\S+)$", output, re.M)},
    )
