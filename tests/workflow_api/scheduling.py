"""A real ``celery -A tts beat`` process for tests of the scheduled jobs (import the fixture into a test module)."""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import REPO_ROOT, _process_env


@pytest.fixture
def celery_beat(transactional_db, tmp_path) -> Iterator[Callable[[], subprocess.Popen]]:
    """``celery_beat()`` starts beat with the test's environment (set intervals with monkeypatch.setenv first)."""
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        log = open(tmp_path / f"beat-{len(started)}.log", "w")
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tts", "beat", "-l", "INFO"],
            cwd=REPO_ROOT, env=_process_env(), stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        started.append(process)
        return process

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
