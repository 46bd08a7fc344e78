"""``manage.py generate_history``: a reproducible history, consistent with the engine's own rules."""
from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, F, OuterRef, Q

from auth_service.models import User
from messaging_service.models import Comment, TicketParticipant, TicketReplica
from notification_service.models import InAppNotification
from tts import history
from tts_common.models import AccountState
from workflow_api.models import Assignment, AuditEvent, RoundRobinCursor, StepInstance, Task

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def fingerprint() -> str:
    rows = Task.objects.order_by("external_ticket_id").values_list(
        "external_ticket_id", "task_id", "status", "assigned_user_id", "sla_deadline", "completed_at"
    )
    return hashlib.sha256(repr(list(rows)).encode()).hexdigest()


def test_history_is_consistent_and_reproducible(transactional_db) -> None:
    summary = history.generate(tasks=600, seed=7, now=NOW, chunk=250)
    assert summary.rows["Task"] == Task.objects.count() == 600
    assert summary.rows["StepInstance"] == StepInstance.objects.count() > 600
    assert summary.rows["InAppNotification"] == InAppNotification.objects.count() > 600
    assert Comment.objects.count() == summary.rows["Comment"] > 0

    tasks = Task.objects.all()
    assert tasks.filter(ticket_created_at__lt=NOW - timedelta(days=history.HISTORY_DAYS + 7)).count() == 0
    assert tasks.filter(created_at__gt=NOW).count() == 0
    assert {"completed", "rejected"} <= set(tasks.values_list("status", flat=True))
    # Closed tasks have no assignee and no active step; open ones hold at most one open assignment (a constraint).
    closed = tasks.filter(status__in=["completed", "rejected"])
    assert not closed.filter(Q(assigned_user__isnull=False) | Q(completed_at__isnull=True)).exists()
    assert not StepInstance.objects.filter(task__in=closed, status="active").exists()
    assert not Assignment.objects.filter(task__in=closed, ended_at__isnull=True).exists()
    # A step belongs to its task's workflow; a deadline follows the raise; a breach is at the deadline.
    assert not StepInstance.objects.exclude(step__workflow=F("task__workflow")).exists()
    assert not tasks.filter(sla_deadline__lte=F("ticket_created_at")).exists()
    assert not tasks.exclude(sla_breached_at__isnull=True).exclude(sla_breached_at=F("sla_deadline")).exists()
    breach_rate = tasks.filter(sla_breached_at__isnull=False).count() / 600
    assert 0.02 < breach_rate < 0.25, breach_rate
    # Round-robin: each role's picks are spread evenly over its 20 members.
    per_user = Assignment.objects.filter(reason="round_robin").values("role_id", "user_id").annotate(n=Count("id"))
    by_role: dict[int, list[int]] = {}
    for row in per_user:
        by_role.setdefault(row["role_id"], []).append(row["n"])
    assert all(max(counts) - min(counts) <= 1 for counts in by_role.values() if len(counts) == history.ROLE_MEMBERS)
    assert RoundRobinCursor.objects.count() == len(history.ROLES)
    # Every generated login can use its tokens (the state the auth service records for its users).
    assert set(AccountState.objects.values_list("user_id", flat=True)) >= set(User.objects.values_list("pk", flat=True))
    assert AuditEvent.objects.filter(action="task.created").count() == 600
    # messaging_service's copy lets every holder and the owner read the comments, and only them.
    assert TicketReplica.objects.count() == 600
    holders = set(Assignment.objects.values_list("task__external_ticket_id", "user_id"))
    owners = set(Task.objects.values_list("external_ticket_id", "owner_id"))
    assert set(TicketParticipant.objects.values_list("ticket_id", "user_id")) == holders | owners
    assert not Comment.objects.exclude(
        author_id__in=TicketParticipant.objects.filter(ticket_id=OuterRef("ticket_id")).values("user_id")
    ).exists()

    first = fingerprint()
    for model in (Task, InAppNotification, Comment, AuditEvent, TicketReplica):
        model.objects.all().delete()
    history.generate(tasks=600, seed=7, now=NOW, chunk=100)  # other chunks, same history
    assert fingerprint() == first


def test_command_refuses_a_seed_already_generated(transactional_db) -> None:
    out = StringIO()
    call_command("generate_history", tasks=50, seed=3, no_progress=True, stdout=out)
    assert "generated 50 tasks" in out.getvalue()
    with pytest.raises(CommandError, match="seed 3 is already in this database"):
        call_command("generate_history", tasks=50, seed=3, no_progress=True, stdout=StringIO())


def test_command_refuses_a_database_holding_data_no_generator_wrote(transactional_db) -> None:
    User.objects.create_user(username="real-person", password="x" * 12)
    with pytest.raises(CommandError, match="no dataset marker"):
        call_command("generate_history", tasks=10, seed=4, no_progress=True, stdout=StringIO())
    assert Task.objects.count() == 0 and User.objects.count() == 1
