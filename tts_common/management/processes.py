"""Running a set of processes as one (``runall``, ``worker`` with no service): all start, and when one exits or
the command is interrupted, all are stopped."""
from __future__ import annotations

import signal
import subprocess
import time
from typing import Any

STOP_TIMEOUT_SECONDS = 20


def run_together(commands: dict[str, list[str]]) -> None:
    """Start every command; return when interrupted (SIGINT, SIGTERM), or raise ``SystemExit`` naming the first
    child that exited on its own. Either way every child is stopped (SIGTERM, then SIGKILL after a grace time)."""
    children = {name: subprocess.Popen(argv) for name, argv in commands.items()}
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
            child.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
    if exited:
        raise SystemExit(f"{exited} exited with code {children[exited].returncode}; stopped the rest.")
