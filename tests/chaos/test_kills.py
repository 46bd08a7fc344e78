"""Processes SIGKILLed every 4–6 s under load (issue 13): 5,000 tickets arrive at 50/s as HDTS publishes them while
200 task actions are made through the API, and intake workers, notification workers, ticket_service's status
worker and the web server are killed in turn (each restarted at once, as a supervisor would). Whatever a kill
interrupts — a batch between its commit and its publish, a request between its commit and its answer — the end
state is exact: every ticket one task, every assignment one in-app notification, every status change recorded
once by ticket_service, in order."""
from __future__ import annotations

import itertools
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import requests

from notification_service.models import InAppNotification
from tests.conftest import (
    REPO_ROOT,
    ServerProcess,
    WorkerProcess,
    _process_env,
    outside_celery_app,
    queue_depth,
    wait_for,
)
from tests.workflow_api.factories import access_token
from tests.workflow_api.test_ingestion_queue import ticket
from ticket_service.models import TicketStatusUpdate
from tts_common import contracts
from tts_common.models import OutboxMessage
from workflow_api.models import Assignment, Task

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TICKETS = 5000
RATE_PER_SECOND = 50
# Four actions on each of 50 tasks: 200 actions, three status changes per task.
PLAN = ("hold", "resume", "approve", "approve")
STATUSES = ["on_hold", "in_progress", "completed"]
ACTED = 50
MIN_KILLS = 20

ENV = {
    "HDTS_SIGNING_SECRET": "",
    # The relay often, so the test need not wait; the other scheduled jobs out of the way.
    "OUTBOX_RELAY_INTERVAL_SECONDS": "2",
    "SLA_SCAN_INTERVAL_SECONDS": "3600",
    "DEAD_LETTER_DRAIN_INTERVAL_SECONDS": "3600",
    "EMAIL_SWEEP_INTERVAL_SECONDS": "3600",
    "EXTERNAL_RETRY_INTERVAL_SECONDS": "3600",
    "EMAIL_DUE_INTERVAL_SECONDS": "3600",
    "EMAIL_DIGEST_INTERVAL_SECONDS": "3600",
}
# Intake with the scheduled jobs (the relay among them), as `manage.py worker workflow_api` consumes.
WORKERS: dict[str, tuple[tuple[str, ...], int]] = {
    "intake": (contracts.SERVICE_QUEUES["workflow_api"], 2),
    "notification": (contracts.SERVICE_QUEUES["notification_service"], 1),
    "ticket_status": (contracts.SERVICE_QUEUES["ticket_service"], 1),
}


class Fleet:
    """The processes under test, each restarted as soon as it is killed; ``web_url`` is the live server's."""

    def __init__(self, tmp_path: Any) -> None:
        self.tmp_path = tmp_path
        self.env = _process_env(ENV)
        self.serial = itertools.count()
        self.workers = {name: self._worker(name) for name in WORKERS}
        self.web = self._web()
        self.beat = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tts", "beat", "-l", "WARNING"],
            cwd=REPO_ROOT, env=self.env, stdout=open(tmp_path / "beat.log", "w"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        for worker in self.workers.values():
            worker.wait_ready()
        self.web.wait_ready()
        self.kills: list[str] = []

    def _worker(self, name: str) -> WorkerProcess:
        queues, concurrency = WORKERS[name]
        return WorkerProcess(queues, concurrency, self.tmp_path / f"{name}-{next(self.serial)}.log", self.env)

    def _web(self) -> ServerProcess:
        return ServerProcess(self.tmp_path / f"web-{next(self.serial)}.log", self.env)

    @property
    def web_url(self) -> str:
        return self.web.url

    def kill(self, victim: str) -> None:
        """SIGKILL ``victim`` (the whole worker, pool included; or the web server) and start its replacement."""
        if victim == "web":
            self.web.process.kill()
            self.web.process.wait()
            self.web = self._web()
            self.web.wait_ready()
        else:
            self.workers[victim].kill()
            self.workers[victim] = self._worker(victim)
        self.kills.append(victim)

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        self.web.stop()
        self.beat.terminate()
        self.beat.wait(30)


def arrive(tickets: list[dict[str, Any]]) -> None:
    """Publish the tickets as HDTS does, at RATE_PER_SECOND."""
    app = outside_celery_app()
    started = time.monotonic()
    with app.producer_or_acquire() as producer:
        for n, data in enumerate(tickets):
            time.sleep(max(0.0, started + n / RATE_PER_SECOND - time.monotonic()))
            app.send_task(
                contracts.RECEIVE_TICKET.task, kwargs={"ticket_data": data}, queue=contracts.RECEIVE_TICKET.queue,
                producer=producer,
            )  # fmt: skip


def act(fleet: Fleet, task_ids: list[str], token: str) -> int:
    """PLAN on each task through the API, as a client that retries until it gets an answer: a 409 once an attempt
    went unanswered means that attempt took effect (a repeated approve approved the next step: the next approve
    then finds the task completed). Returns how many actions were made."""
    made = 0
    for task_id in task_ids:
        unanswered = False
        for action in PLAN:
            while True:
                try:
                    response = requests.post(
                        f"{fleet.web_url}/tasks/{task_id}/actions/", json={"action": action, "notes": "chaos"},
                        headers={"Authorization": f"Bearer {token}"}, timeout=10,
                    )  # fmt: skip
                except requests.RequestException:  # killed while we asked, or not restarted yet
                    unanswered = True
                    time.sleep(0.2)
                    continue
                if response.status_code == 200 or (response.status_code == 409 and unanswered):
                    break
                if response.status_code >= 500:
                    unanswered = True
                    time.sleep(0.2)
                    continue
                raise AssertionError(f"{action} on {task_id}: {response.status_code} {response.text}")
            made += 1
            time.sleep(0.2)
    return made


@pytest.mark.timeout(900)
def test_processes_killed_every_few_seconds_lose_and_duplicate_nothing(seeded, broker, tmp_path) -> None:
    tickets = [ticket(f"K-{i}", sub_category=random.choice(list(seeded))) for i in range(TICKETS)]
    fleet = Fleet(tmp_path)
    done = threading.Event()
    errors: list[BaseException] = []
    made: list[int] = []

    def guarded(function: Callable[[], Any]) -> threading.Thread:
        def run() -> None:
            try:
                function()
            except BaseException as exc:  # reported by the test below
                errors.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    def actions() -> None:
        # The first tickets, once they are assigned tasks.
        first = [data["ticket_id"] for data in tickets[:ACTED]]
        wait_for(lambda: Task.objects.filter(external_ticket_id__in=first).count() == ACTED, timeout=120)
        ids = [str(pk) for pk in Task.objects.filter(external_ticket_id__in=first).values_list("task_id", flat=True)]
        made.append(act(fleet, ids, access_token(1, "admin", is_admin=True)))

    def kills() -> None:
        victims = itertools.cycle(["intake", "notification", "web", "ticket_status"])
        while not (done.is_set() and len(fleet.kills) >= MIN_KILLS):
            time.sleep(random.uniform(4, 6))
            fleet.kill(next(victims))

    try:
        threads = [guarded(lambda: arrive(tickets)), guarded(actions)]
        killer = guarded(kills)
        for thread in threads:
            thread.join()
        done.set()
        killer.join()
        assert not errors, errors
        for worker in fleet.workers.values():
            worker.wait_ready()

        wait_for(lambda: Task.objects.count() >= TICKETS, timeout=180, message="every ticket a task")
        status_queues = (contracts.RECEIVE_TICKET.queue, *WORKERS["notification"][0], contracts.TICKET_STATUS.queue)
        wait_for(
            lambda: not OutboxMessage.objects.exists() and all(queue_depth(broker, q) == 0 for q in status_queues),
            timeout=120,
            message="outbox empty and every message consumed",
        )
        # A message being stored when the depth was read: wait until the notifications stop changing.
        counts = lambda: (InAppNotification.objects.count(), TicketStatusUpdate.objects.count())  # noqa: E731
        previous = None
        while (current := counts()) != previous:
            previous = current
            time.sleep(3)
    finally:
        fleet.stop()

    assert len(fleet.kills) >= MIN_KILLS and made == [ACTED * len(PLAN)]
    assert queue_depth(broker, contracts.TICKET_DLQ) == 0
    # Every ticket exactly one task.
    ticket_ids = list(Task.objects.values_list("external_ticket_id", flat=True))
    assert len(ticket_ids) == TICKETS and set(ticket_ids) == {data["ticket_id"] for data in tickets}
    # Every assignment exactly one in-app notification (to that user, about that task).
    assignments = Counter((str(task_id), user_id) for task_id, user_id in Assignment.objects.values_list("task__task_id", "user_id"))
    notified = Counter(
        InAppNotification.objects.filter(notification_type="task_assignment").values_list("related_task_id", "user_id")
    )
    assert sum(assignments.values()) == TICKETS + ACTED  # each acted task's second step was assigned too
    assert notified == assignments
    # Every status change reached ticket_service exactly once, in the order it was made.
    recorded: dict[str, list[str]] = {}
    for ticket_id, status in TicketStatusUpdate.objects.order_by("id").values_list("ticket_id", "status"):
        recorded.setdefault(ticket_id, []).append(status)
    assert recorded == {data["ticket_id"]: STATUSES for data in tickets[:ACTED]}
