"""The report rollups stay exact on the real stack: 4 worker processes ingest tickets, apply HDTS closes and
withdrawals (with CSAT ratings, some before their tickets arrive) and run SLA scans, while people act on the tasks and
folds run, all at once. Then the rollups (buckets plus deltas) equal the recomputation from the raw rows."""
from __future__ import annotations

import random
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tests.conftest import outside_celery_app, wait_for
from tests.workflow_api.factories import deployed_workflow, role_with_users
from tts_common import contracts
from tts_common.base.errors import ApplicationError
from tts_common.http.auth import TokenUser
from workflow_api.models import ReportBucket, ReportDelta, Task
from workflow_api.services import actions
from workflow_api.services.reports import fold_report_deltas, rollup_differences

pytestmark = pytest.mark.django_db(transaction=True)

TICKETS = 300
ADMIN = TokenUser({"user_id": 1, "username": "admin", "is_admin": True, "roles": {}})


def _looping(stop: threading.Event, step) -> threading.Thread:
    def run() -> None:
        try:
            while not stop.is_set():
                step()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_rollups_stay_exact_under_concurrent_work(celery_worker):
    coordinators, _ = role_with_users(2, name="Coordinators")
    agents, agent_users = role_with_users(4, name="Agents")
    engineers, _ = role_with_users(3, name="Engineers")
    deployed_workflow(step_roles=[agents, engineers], coordinator_role=coordinators, category="IT Support", sub_category="Network")
    for _ in range(2):
        celery_worker(queues=(contracts.RECEIVE_TICKET.queue, contracts.SLA_SCAN.queue), concurrency=2)
    app = outside_celery_app()
    rng = random.Random(16)
    stop = threading.Event()

    def act() -> None:
        task = Task.objects.filter(status__in=Task.OPEN_STATUSES).order_by("?").first()
        if task is None:
            time.sleep(0.05)
            return
        action = rng.choice(["approve", "approve", "reject", "transfer", "escalate", "hold", "resume"])
        body = {"to_user": rng.choice(agent_users).pk} if action == "transfer" else {}
        try:
            actions.task_act(task_id=task.pk, actor=ADMIN, action=action, **body)
        except ApplicationError:  # the task moved meanwhile (closed by HDTS, another action): a 4xx, as for a person
            pass

    def fold() -> None:
        fold_report_deltas(batch_size=50)
        time.sleep(0.1)

    threads = [_looping(stop, act), _looping(stop, act), _looping(stop, fold)]
    try:
        old = (timezone.now() - timedelta(days=4)).isoformat()  # past their SLA on arrival: the scans breach them
        for chunk in range(10):
            with app.producer_or_acquire() as producer:
                for i in range(chunk * 30, chunk * 30 + 30):
                    ticket = {"ticket_id": f"R-{i}", "title": f"Ticket {i}", "category": "IT Support",
                              "sub_category": "Network", "priority": rng.choice(["low", "medium", "high", "urgent"]),
                              "requester_email": "someone@example.com", **({"created_at": old} if i % 3 == 0 else {})}  # fmt: skip
                    app.send_task(contracts.RECEIVE_TICKET.task, kwargs={"ticket_data": ticket}, queue=contracts.RECEIVE_TICKET.queue, producer=producer)
                    if i % 5 == 0:  # HDTS closes or withdraws some, a few before (the next chunk's) tickets arrive
                        status = {"ticket_number": f"R-{i + 2}", "status": rng.choice(["Closed", "Withdrawn"]), "csat_rating": rng.randint(1, 5)}
                        app.send_task(contracts.RECEIVE_HDTS_TICKET_STATUS.task, args=[status], queue=contracts.RECEIVE_TICKET.queue, producer=producer)
                app.send_task(contracts.SLA_SCAN.task, queue=contracts.SLA_SCAN.queue, producer=producer)
            time.sleep(0.3)
        wait_for(lambda: Task.objects.count() == TICKETS, timeout=120, message=f"{TICKETS} tasks")
        time.sleep(1)  # the last statuses and scans
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    statuses = set(Task.objects.values_list("status", flat=True))
    assert {"completed", "rejected", "cancelled", "in_progress"} <= statuses, statuses
    assert Task.objects.filter(sla_breached_at__isnull=False).exists() and Task.objects.filter(csat_rating__isnull=False).exists()
    assert ReportBucket.objects.exists()  # the folds ran alongside
    assert rollup_differences() == {}
    fold_report_deltas()
    assert not ReportDelta.objects.exists()
    assert rollup_differences() == {}
