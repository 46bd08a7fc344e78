"""The SLA monitor: warnings at each threshold (50/75/90 %) once, breaches and escalation, once each, holds not counted, overlapping scans,
breaches dated after the changes they race (intake, an approval, an HDTS withdrawal), a scan over 20k open tasks, and
the job run by a real beat and worker."""
from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from tests.conftest import run_concurrently, wait_for
from tests.workflow_api.factories import (
    RoleFactory,
    access_token,
    api_client,
    ingested_task,
    role_with_users,
    two_step_setup,
)
from tests.workflow_api.scheduling import celery_beat  # noqa: F401 (fixture)
from tests.workflow_api.test_actions_api import Published
from tts_common import contracts
from tts_common.base.permissions import ADMIN as ADMIN_PERMISSION
from tts_common.http.auth import TokenUser
from workflow_api.models import Assignment, AuditEvent, ReportDelta, ReportEvent, StepInstance, Task
from workflow_api.services import actions, hdts_status
from workflow_api.services.reports import rollup_differences
from workflow_api.services.sla import ScanResult, sla_scan

pytestmark = pytest.mark.django_db

SLA = timedelta(hours=24)  # two_step_setup's SLA for "high", the internal priority of an HDTS "medium" ticket


@pytest.fixture
def setup():
    return two_step_setup()


@pytest.fixture
def published(broker) -> Published:
    return Published(broker)


@pytest.fixture
def scan(django_capture_on_commit_callbacks):
    """Run one scan and its after-commit publishes."""

    def run(**kwargs) -> ScanResult:
        with django_capture_on_commit_callbacks(execute=True):
            return sla_scan(**kwargs)

    return run


def agent_of(task: Task) -> TokenUser:
    return TokenUser(AccessToken(access_token(task.assigned_user_id, "agent")))


def task_at(ticket_id: str, elapsed: float) -> Task:
    """A task whose ticket was created ``elapsed`` × its SLA ago."""
    created = timezone.now() - SLA * elapsed
    return ingested_task(ticket_id, created_at=created.isoformat())


def inapp(published: Published, notification_type: str) -> list[tuple[int, str]]:
    return sorted(
        (kwargs["user_id"], kwargs["related_ticket_id"])
        for name, kwargs in published()
        if name == contracts.INAPP_NOTIFICATION.task and kwargs["notification_type"] == notification_type
    )


def audited(action: str) -> list[str]:
    return sorted(AuditEvent.objects.filter(action=action).values_list("ticket_id", flat=True))


def thresholds_warned() -> dict[str, list[int]]:
    warned: dict[str, list[int]] = {}
    for event in AuditEvent.objects.filter(action="task.sla_warning").order_by("occurred_at", "id"):
        warned.setdefault(event.ticket_id, []).append(event.data["threshold"])
    return warned


def test_warnings_at_each_threshold_once_to_the_assignee(setup, scan, published):
    early, middle, late = task_at("T-40", 0.4), task_at("T-60", 0.6), task_at("T-80", 0.8)
    now = timezone.now()
    published.clear()
    # T-80 passed 50 % and 75 % since the last scan: one warning, naming the highest.
    assert scan(now=now) == ScanResult(warned=2)
    assert inapp(published, "sla_warning") == sorted([(middle.assigned_user_id, "T-60"), (late.assigned_user_id, "T-80")])
    assert thresholds_warned() == {"T-60": [50], "T-80": [75]}
    assert Task.objects.get(pk=early.pk).sla_warned_at is None
    assert Task.objects.get(pk=late.pk).sla_next_warning_percent == 90
    assert scan(now=now) == ScanResult()  # once

    assert scan(now=now + SLA * 0.12) == ScanResult(warned=2)  # T-40 at 52 %, T-80 at 92 %
    assert scan(now=now + SLA * 0.25) == ScanResult(warned=1, breached=1, escalated=1)  # T-60 at 85 %; T-80 late
    assert thresholds_warned() == {"T-40": [50], "T-60": [50, 75], "T-80": [75, 90]}
    assert Task.objects.get(pk=late.pk).sla_next_warning_at is None
    notice = next(k for n, k in published() if n == contracts.INAPP_NOTIFICATION.task and k["related_ticket_id"] == "T-40")
    assert "50%" in notice["subject"]


def test_breach_escalates_round_robin_within_the_escalation_role(setup, scan, published):
    workflow, users = setup
    escalation_role, supervisors = role_with_users(2, name="Supervisors")
    workflow.escalation_role = escalation_role
    workflow.save()
    first, second, fine = task_at("T-1", 1.1), task_at("T-2", 1.5), task_at("T-3", 0.1)
    published.clear()

    assert scan() == ScanResult(breached=2, escalated=2)
    first, second = Task.objects.get(pk=first.pk), Task.objects.get(pk=second.pk)
    # A batch is handled earliest deadline first: T-2 (created longest ago) gets the role's first user.
    assert (second.assigned_user_id, first.assigned_user_id) == (supervisors[0].user_id, supervisors[1].user_id)
    assert first.status == second.status == Task.Status.IN_PROGRESS
    assert first.sla_breached_at and second.sla_breached_at and first.sla_warned_at is None
    for task in (first, second):
        history = list(Assignment.objects.filter(task=task).order_by("assigned_at", "id"))
        assert [a.reason for a in history] == ["round_robin", "escalation"]
        assert history[0].ended_at is not None and history[1].ended_at is None
        assert history[1].role_id == escalation_role.pk
        assert history[1].step_instance == StepInstance.objects.get(task=task, status="active")
    agents = {agent.user_id for agent in users["agents"]}
    breach_notices = inapp(published, "sla_breach")
    assert {ticket for _, ticket in breach_notices} == {"T-1", "T-2"}
    assert {user for user, _ in breach_notices} & agents  # the assignee who missed it, and the owner
    assert inapp(published, "task_escalation") == sorted(
        [(supervisors[0].user_id, "T-2"), (supervisors[1].user_id, "T-1")]
    )
    assert audited("task.sla_breached") == audited("task.sla_escalated") == ["T-1", "T-2"]
    event = AuditEvent.objects.get(action="task.sla_escalated", ticket_id="T-1")
    assert event.data["outcome"] == "reassigned" and event.data["to_user"] == supervisors[1].user_id

    assert scan() == ScanResult()  # once
    assert Task.objects.get(pk=fine.pk).sla_breached_at is None


def test_breach_without_an_escalation_role_goes_to_the_owner(setup, scan, published):
    task = task_at("T-1", 2)
    published.clear()
    assert scan() == ScanResult(breached=1, escalated=1)
    after = Task.objects.get(pk=task.pk)
    assert after.assigned_user_id == task.owner_id != task.assigned_user_id
    assert Assignment.objects.filter(task=task, ended_at__isnull=True).get().reason == "escalation"
    assert inapp(published, "task_escalation") == [(task.owner_id, "T-1")]


def test_a_batch_publishes_each_kind_of_notification_in_one_call(setup, django_capture_on_commit_callbacks):
    """One after-commit publish (one publisher-confirm wait) per kind and batch, not one per task: at 100k open
    tasks one per task was most of a busy scan's time (bench/sla_scan.py)."""
    for i in range(3):
        task_at(f"W-{i}", 0.8)
        task_at(f"B-{i}", 1.5)
    with django_capture_on_commit_callbacks() as callbacks:
        assert sla_scan() == ScanResult(warned=3, breached=3, escalated=3)
    # Breaches, escalations, the escalations' assignment notifications (with the tasks' participants); warnings.
    assert len(callbacks) == 4


def test_breach_with_nobody_to_escalate_to_keeps_the_task_and_tells_the_admins(setup, scan, published):
    workflow, _ = setup
    admin_role, [admin] = role_with_users(1, permissions=[ADMIN_PERMISSION], system=settings.TTS_SYSTEM)
    workflow.escalation_role = RoleFactory(name="Nobody here")
    workflow.save()
    task = task_at("T-1", 2)
    published.clear()
    assert scan() == ScanResult(breached=1, escalated=0)
    assert Task.objects.get(pk=task.pk).assigned_user_id == task.assigned_user_id
    assert AuditEvent.objects.get(action="task.sla_escalated").data["outcome"] == "no_target"
    assert (admin.user_id, None) in inapp(published, "sla_breach")


def test_time_on_hold_does_not_count(setup, scan):
    held = task_at("T-held", 0.7)
    past_deadline_on_hold = task_at("T-hold-late", 0.5)
    for task in (held, past_deadline_on_hold):
        actions.task_act(task_id=task.pk, actor=agent_of(task), action="hold")
    # Ten hours on hold: as much as takes T-held past 75 % if the clock ran.
    Task.objects.filter(pk=held.pk).update(on_hold_since=timezone.now() - timedelta(hours=10))
    actions.task_act(task_id=held.pk, actor=agent_of(held), action="resume")
    # A task still on hold is not scanned, even past its deadline.
    Task.objects.filter(pk=past_deadline_on_hold.pk).update(sla_deadline=timezone.now() - timedelta(hours=1))
    assert scan() == ScanResult()
    resumed = Task.objects.get(pk=held.pk)
    assert resumed.status == Task.Status.IN_PROGRESS and resumed.sla_warned_at is None


def overlapping_scans(count: int = 4, **kwargs) -> ScanResult:
    """``count`` scans started together in threads (each its own connection); their results summed."""
    results = run_concurrently(lambda: sla_scan(batch_size=25, **kwargs), count)
    return sum(results, ScanResult())


@pytest.mark.django_db(transaction=True)
def test_overlapping_scans_claim_each_task_once():
    two_step_setup()
    for i in range(300):
        task_at(f"T-{i}", 0.9 if i % 3 else 1.2)  # 200 to warn, 100 to breach
    assert overlapping_scans() == ScanResult(warned=200, breached=100, escalated=100)
    assert AuditEvent.objects.filter(action="task.sla_warning").count() == 200
    assert AuditEvent.objects.filter(action="task.sla_breached").count() == 100
    assert Assignment.objects.filter(reason="escalation").count() == 100
    assert sla_scan() == ScanResult()


@pytest.mark.django_db(transaction=True)
def test_overlapping_scans_send_each_threshold_once():
    two_step_setup()
    for i in range(200):
        task_at(f"T-{i}", 0.55)
    now = timezone.now()
    assert overlapping_scans(now=now) == ScanResult(warned=200)  # 50 %
    assert overlapping_scans(now=now + SLA * 0.25) == ScanResult(warned=200)  # 80 %: 75
    assert overlapping_scans(now=now + SLA * 0.25) == ScanResult()
    assert overlapping_scans(now=now + SLA * 0.4) == ScanResult(warned=200)  # 95 %: 90
    sent = Counter(AuditEvent.objects.filter(action="task.sla_warning").values_list("ticket_id", "data__threshold"))
    assert len(sent) == 600 and set(sent.values()) == {1}
    assert {threshold for _, threshold in sent} == {50, 75, 90}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("change", ["intake", "approval"])
def test_a_breach_is_counted_at_the_step_a_change_committed_while_the_scan_waited_to_claim(setup, change):
    """Intake makes a task past its SLA, or an approval moves one to its next step, and commits while a scan waits
    to claim: the scan claims the task as it is now and dates the breach after that change, so the step the breach
    names is the one the raw rows put the task at by then. (A scan dated its events by the clock read before its
    claim: the breach counted at the task's step at a time the raw rows put it at the step before, or, fresh from
    intake, at none: the stack test's rare failure, several users of one intake batch each one breach too many.)"""
    approved = task_at("T-0", 2) if change == "approval" else None
    admin = TokenUser({"user_id": 1, "username": "admin", "is_admin": True, "roles": {}})
    scanned: list[ScanResult] = []

    def run_scan() -> None:
        try:
            scanned.append(sla_scan())
        finally:
            connection.close()

    scanner = threading.Thread(target=run_scan)
    with transaction.atomic():
        with connection.cursor() as cursor:  # the claim waits behind this lock
            cursor.execute(f"LOCK TABLE {Task._meta.db_table} IN EXCLUSIVE MODE")
        scanner.start()
        wait_for(lambda: _waiting_for_a_lock("SKIP LOCKED"), timeout=30, message="the scan waiting to claim")
        if approved is None:
            task = task_at("T-1", 2)
        else:
            task = actions.task_act(task_id=approved.pk, actor=admin, action="approve")
    scanner.join()

    task.refresh_from_db()
    active = StepInstance.objects.get(task=task, status=StepInstance.Status.ACTIVE)
    assert scanned == [ScanResult(breached=1, escalated=1)] and task.sla_breached_at is not None
    breach = ReportDelta.objects.get(kind=ReportEvent.BREACHED)
    assert breach.step_id == active.step_id and breach.occurred_at >= active.started_at
    assert rollup_differences() == {}


@pytest.mark.django_db(transaction=True)
def test_a_withdrawal_that_waited_for_a_scan_ends_the_task_after_its_breach(setup):
    """HDTS withdraws a task past its SLA while a scan holds it: the withdrawal waits, and is dated after the breach
    and the escalation it waited for, so the breach counts at the step the task was at. (The withdrawal read its
    clock before it had the lock: it ended the task before the breach, which the raw rows then put at no step.)"""
    task = task_at("T-1", 2)

    def withdraw() -> None:
        try:
            hdts_status.apply_statuses([hdts_status.parse_status({"ticket_number": "T-1", "status": "Withdrawn"})])
        finally:
            connection.close()

    withdrawer = threading.Thread(target=withdraw)
    with transaction.atomic():
        list(Task.objects.select_for_update().filter(pk=task.pk))  # held for the scan below (its own lock: claimed)
        withdrawer.start()
        wait_for(lambda: _waiting_for_a_lock("FOR UPDATE OF"), timeout=30, message="the withdrawal waiting")
        assert sla_scan() == ScanResult(breached=1, escalated=1)
    withdrawer.join()

    task.refresh_from_db()
    assert task.status == Task.Status.CANCELLED and task.completed_at > task.sla_breached_at
    assert rollup_differences() == {}


def _waiting_for_a_lock(statement: str) -> bool:
    """Whether one backend of this database waits for a lock in a statement containing ``statement``."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # else a transaction sees the activity of its first read
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
            "AND position(%s in query) > 0",
            [statement],
        )
        return cursor.fetchone()[0] == 1


def test_one_scan_over_20k_open_tasks(setup):
    """20k open tasks, 2k due for a warning and 500 breached: one scan handles exactly those (timing printed)."""
    workflow, users = setup
    step = workflow.steps.order_by("order").first()
    agents, owner = users["agents"], users["coordinators"][0]
    now = timezone.now()
    tasks, instances = [], []
    for i in range(20_000):
        # 500 breached, 2000 in their last quarter, the rest earlier on.
        elapsed = 1.1 if i < 500 else 0.8 if i < 2500 else 0.3
        created = now - SLA * elapsed
        next_warning = 50 if elapsed < 0.5 else 75
        task = Task(
            task_id=uuid.uuid4(), workflow=workflow, external_ticket_id=f"B-{i}", title=f"Bench {i}", priority="high",
            status=Task.Status.IN_PROGRESS, current_step=step, assigned_user=agents[i % 3], owner=owner,
            ticket_data={}, ticket_created_at=created, sla_deadline=created + SLA,
            sla_next_warning_at=created + SLA * next_warning / 100, sla_next_warning_percent=next_warning,
        )  # fmt: skip
        tasks.append(task)
        instances.append(StepInstance(task=task, step=step, due_at=created + SLA, started_at=created))
    Task.objects.bulk_create(tasks, batch_size=5000)
    StepInstance.objects.bulk_create(instances, batch_size=5000)
    Assignment.objects.bulk_create(
        Assignment(
            task=t, step_instance=s, user=t.assigned_user, role=step.role, assigned_at=now, task_created_at=t.created_at
        )
        for t, s in zip(tasks, instances, strict=True)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE workflow_api_task")

    started = time.perf_counter()
    result = sla_scan()
    elapsed = time.perf_counter() - started
    print(f"\nSLA scan over 20,000 open tasks: {result} in {elapsed:.2f} s")
    assert result == ScanResult(warned=2000, breached=500, escalated=500)
    assert Task.objects.filter(sla_warned_at__isnull=False).count() == 2000
    assert set(Task.objects.filter(sla_breached_at__isnull=False).values_list("assigned_user_id", flat=True)) == {
        owner.user_id
    }
    started = time.perf_counter()
    assert sla_scan() == ScanResult()
    print(f"SLA scan with nothing due: {time.perf_counter() - started:.3f} s")


@pytest.mark.django_db(transaction=True)
def test_beat_runs_the_scan_on_a_worker(monkeypatch, celery_worker, celery_beat):  # noqa: F811
    two_step_setup()
    task = task_at("T-1", 0.9)
    monkeypatch.setenv("SLA_SCAN_INTERVAL_SECONDS", "1")
    celery_worker(queues=(contracts.SLA_SCAN.queue,), concurrency=1)
    celery_beat()
    wait_for(lambda: Task.objects.get(pk=task.pk).sla_warned_at, timeout=30, message="the scan from beat")
    assert AuditEvent.objects.filter(action="task.sla_warning").count() == 1


def test_beat_schedule_and_route():
    entry = settings.CELERY_BEAT_SCHEDULE["sla-scan"]
    assert entry["task"] == contracts.SLA_SCAN.task and entry["schedule"] == 60
    assert settings.CELERY_TASK_ROUTES[contracts.SLA_SCAN.task]["queue"] == contracts.SLA_SCAN.queue
    assert contracts.SLA_SCAN.queue in contracts.SERVICE_QUEUES["workflow_api"]



def test_escalation_role_through_the_workflow_api():
    from tests.workflow_api.test_workflows_api import definition

    roles = {name: RoleFactory(name=name) for name in ("triage", "fix", "coord")}
    supervisors = RoleFactory(name="Supervisors", is_active=False)
    admin = api_client(is_admin=True)
    unknown = admin.post("/workflows/", definition(roles, escalation_role_id=999999), format="json")
    assert unknown.status_code == 400 and set(unknown.json()["errors"]) == {"escalation_role_id"}
    body = admin.post("/workflows/", definition(roles, escalation_role_id=supervisors.pk), format="json").json()
    assert (body["escalation_role_id"], body["escalation_role_name"]) == (supervisors.pk, "Supervisors")
    deploy = admin.post(f"/workflows/{body['id']}/deploy/")
    assert deploy.status_code == 400 and "escalation_role_id" in deploy.json()["errors"]  # an inactive role
    clone = admin.post(f"/workflows/{body['id']}/new-version/").json()
    assert clone["escalation_role_id"] == supervisors.pk
    cleared = admin.patch(f"/workflows/{clone['id']}/", {"escalation_role_id": None}, format="json").json()
    assert cleared["escalation_role_id"] is None and cleared["escalation_role_name"] is None
