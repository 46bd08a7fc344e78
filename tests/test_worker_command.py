"""``manage.py worker``: the README's worker commands, run as a person would."""
from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT, _process_env, wait_for
from tts_common import contracts
from tts_common.management.commands.worker import worker_groups


def test_worker_without_a_service_consumes_every_queue_intake_in_a_worker_of_its_own(
    transactional_db, broker, tmp_path
) -> None:
    log = tmp_path / "worker.log"
    with open(log, "w") as out:
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "worker", "-c", "1"],
            cwd=REPO_ROOT, env=_process_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            groups = len(worker_groups())
            wait_for(lambda: log.read_text().count(" ready.") == groups or worker.poll() is not None, timeout=90)
            assert worker.poll() is None, log.read_text()
            channel = broker.default_channel

            def consumers() -> dict[str, int]:
                return {
                    queue: contracts.declared_queue(queue)(channel).queue_declare(passive=True).consumer_count
                    for queue in contracts.ALL_CONSUMED_QUEUES
                }

            # "ready." comes before the batch queues' consumers start: they start with the event loop (BatchQueues).
            wait_for(lambda: all(count >= 1 for count in consumers().values()), timeout=30, message="every queue consumed")
            assert consumers() == dict.fromkeys(contracts.ALL_CONSUMED_QUEUES, 1)
            # The intake queue's consumer is a worker that consumes nothing else (its own pool processes).
            ticket_worker = next(line for line in log.read_text().splitlines() if "workflow_api-" in line and " ready." in line)
            assert "notification" not in ticket_worker
        finally:
            worker.terminate()
            worker.wait(30)


def test_worker_names_an_unknown_service() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "worker", "no_such_service"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "unknown service no_such_service; choose from" in result.stderr
