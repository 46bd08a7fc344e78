"""Availability-aware assignment on the real stack: 1,000 tickets published as HDTS does into several worker
processes while users of the role go away and come back."""
from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime

import pytest
from django.db import connection

from tests.conftest import wait_for
from tests.workflow_api.factories import deployed_workflow, role_with_users
from tests.workflow_api.test_ingestion_queue import broker_conn, hdts, signed, start_engine, ticket  # noqa: F401 (fixtures)
from workflow_api.models import Assignment, AssignmentDecision, AuditEvent, Task
from workflow_api.selectors.assignment import replay_decisions
from workflow_api.services.availability import availability_set

pytestmark = pytest.mark.django_db(transaction=True)

TICKETS = 1000


def _toggle(user_ids: list[int], stop: threading.Event) -> None:
    """Send users away and bring them back, at random, until stopped; everyone is back at the end."""
    rng = random.Random(7)
    try:
        while not stop.is_set():
            user_id = rng.choice(user_ids)
            for status in ("away", "active"):
                availability_set(
                    user_id=user_id,
                    data={"status": status, "away_from": None, "away_until": None, "reason": "test", "max_open_tasks": None},
                    actor=None,
                )
                time.sleep(rng.uniform(0.02, 0.15))
    finally:
        connection.close()


def _away_intervals() -> dict[int, list[tuple[datetime, datetime | None]]]:
    """Per user, when they were away, from the availability changes' audit events (times taken under the locks)."""
    intervals: dict[int, list[tuple[datetime, datetime | None]]] = defaultdict(list)
    went_away: dict[int, datetime] = {}
    for event in AuditEvent.objects.filter(action="agent.availability_changed").order_by("occurred_at", "id"):
        user_id = event.data["user_id"]
        if event.data["status"] == "away":
            went_away.setdefault(user_id, event.occurred_at)
        elif user_id in went_away:
            intervals[user_id].append((went_away.pop(user_id), event.occurred_at))
    for user_id, since in went_away.items():
        intervals[user_id].append((since, None))
    return intervals


def _inside(moment: datetime, intervals: list[tuple[datetime, datetime | None]]) -> bool:
    return any(start <= moment and (end is None or moment < end) for start, end in intervals)


def test_users_going_away_and_back_get_nothing_while_away_and_the_others_stay_even(hdts, start_engine):  # noqa: F811
    coordinators, _ = role_with_users(2, name="Coordinators")
    agents, users = role_with_users(7, name="Agents")
    deployed_workflow(step_roles=[agents], coordinator_role=coordinators, category="IT Support", sub_category="Network")
    ids = sorted(u.user_id for u in users)
    steady, toggled = ids[::2], ids[1::2]  # interleaved, so away users sit between available ones in the cycle

    start_engine(workers=2, concurrency=2)
    stop = threading.Event()
    toggler = threading.Thread(target=_toggle, args=(toggled, stop))
    toggler.start()
    try:
        for chunk in range(20):  # spread over the run, so the toggling overlaps the assigning
            hdts(signed(ticket(f"T-{chunk}-{i}")) for i in range(TICKETS // 20))
            time.sleep(0.2)
        wait_for(lambda: Assignment.objects.count() >= TICKETS, timeout=120, message=f"{TICKETS} assignments")
    finally:
        stop.set()
        toggler.join()

    assert Task.objects.count() == TICKETS and Assignment.objects.count() == TICKETS
    intervals = _away_intervals()
    assert sum(len(spans) for spans in intervals.values()) >= 10, "the users should have gone away several times"

    # No task went to a user while away (by the assignment's time and by the decision's).
    for user_id, assigned_at in Assignment.objects.values_list("user_id", "assigned_at"):
        assert not _inside(assigned_at, intervals.get(user_id, [])), (user_id, assigned_at)
    decisions = list(AssignmentDecision.objects.all())
    for decision in decisions:
        assert not _inside(decision.decided_at, intervals.get(decision.user_id, [])), decision.pk

    # Among users available the whole run, the counts differ by at most 1; the others got some work too.
    counts = Counter(Assignment.objects.values_list("user_id", flat=True))
    steady_counts = [counts[user_id] for user_id in steady]
    assert max(steady_counts) - min(steady_counts) <= 1, steady_counts
    assert all(counts[user_id] > 0 for user_id in toggled)

    # Every task's stored decision explains its assignee, and replaying the decisions reproduces the counts.
    by_task = {d.task_id: d for d in decisions}
    assert len(by_task) == TICKETS
    for task_id, assignee in Task.objects.values_list("task_id", "assigned_user_id"):
        decision = by_task[task_id]
        assert decision.user_id == assignee and decision.outcome == "assigned"
        removed = {u for entry in decision.filters for u in entry["removed"]}
        assert assignee in decision.candidates and assignee not in removed
    replay = replay_decisions(decisions)
    assert replay.mismatches == [] and replay.broken_chains == []
    assert replay.counts == counts
    sequences = sorted(d.sequence for d in decisions)
    assert sequences == list(range(sequences[0], sequences[0] + TICKETS))  # one gapless order over all workers
