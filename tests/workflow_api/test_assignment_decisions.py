"""Explainable assignment: stored decisions, availability filters, per-step strategies and no-eligible policies,
and the replay of stored decisions."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.workflow_api.factories import (
    TaskFactory,
    UserFactory,
    UserRoleFactory,
    deployed_workflow,
    ingested_task,
    role_with_users,
)
from workflow_api.models import (
    AgentAvailability,
    Assignment,
    AssignmentDecision,
    AuditEvent,
    NoEligiblePolicy,
    RoleSettings,
    Task,
)
from workflow_api.selectors.assignment import replay_decisions, role_fairness
from workflow_api.services.assignment import ROUND_ROBIN, PickRule, decide
from workflow_api.services.availability import availability_set

LEAST_LOADED = PickRule("least_loaded")


def _set(user, status: str, **fields) -> None:
    data = {"status": status, "away_from": None, "away_until": None, "reason": "", "max_open_tasks": None}
    availability_set(user_id=user.user_id, data=data | fields, actor=None)


def _decide(role, rule: PickRule, count: int):
    return decide({(role.pk, rule): count})[(role.pk, rule)]


@pytest.mark.django_db
def test_a_decision_lists_candidates_filters_pointer_and_choice():
    role, users = role_with_users(5)
    ids = sorted(u.user_id for u in users)
    inactive, away, unavailable = (u for u in users if u.user_id in ids[1:4])
    inactive.is_active = False
    inactive.save()
    _set(away, "away")
    _set(unavailable, "unavailable")
    first, second = _decide(role, ROUND_ROBIN, 2)
    assert first.candidates == ids
    assert first.filters == [
        {"filter": "role", "removed": []},
        {"filter": "active", "removed": [ids[1]]},
        {"filter": "unavailable", "removed": [ids[3]]},
        {"filter": "away", "removed": [ids[2]]},
        {"filter": "capacity", "removed": []},
    ]
    assert (first.cursor_before, first.user_id, first.cursor_after) == (None, ids[0], ids[0])
    assert (second.cursor_before, second.user_id, second.cursor_after) == (ids[0], ids[4], ids[4])
    assert (first.outcome, first.strategy, first.policy) == ("assigned", "round_robin", "hold")
    assert second.sequence == first.sequence + 1


@pytest.mark.django_db
def test_an_out_of_office_window_makes_a_user_away_only_inside_it():
    role, users = role_with_users(2)
    now = timezone.now()
    _set(users[0], "active", away_from=now - timedelta(hours=1), away_until=now + timedelta(hours=1))
    _set(users[1], "active", away_from=now + timedelta(hours=1), away_until=now + timedelta(hours=2))
    [decision] = _decide(role, ROUND_ROBIN, 1)
    assert decision.filters[3] == {"filter": "away", "removed": [users[0].user_id]}
    assert decision.user_id == users[1].user_id


@pytest.mark.django_db
def test_least_loaded_picks_fewest_open_tasks_and_breaks_ties_round_robin():
    role, users = role_with_users(3)
    ids = sorted(u.user_id for u in users)
    for _ in range(2):
        TaskFactory(assigned_user_id=ids[0], status=Task.Status.IN_PROGRESS)
    TaskFactory(assigned_user_id=ids[1], status=Task.Status.IN_PROGRESS)
    TaskFactory(assigned_user_id=ids[1], status=Task.Status.COMPLETED)  # closed: not load
    decisions = _decide(role, LEAST_LOADED, 4)
    # Loads 2/1/0: ids[2]; then ids[1] and ids[2] tie at 1, round-robin after ids[2] wraps to ids[1]; then ids[2]
    # is alone at 1; then all tie at 2 and round-robin after ids[2] wraps to ids[0].
    assert [d.user_id for d in decisions] == [ids[2], ids[1], ids[2], ids[0]]
    assert decisions[0].detail["loads"] == {str(ids[0]): 2, str(ids[1]): 1, str(ids[2]): 0}


@pytest.mark.django_db
def test_a_user_at_capacity_is_filtered_out_as_a_batch_fills_them_up():
    role, users = role_with_users(2)
    capped, free = sorted(users, key=lambda u: u.user_id)
    TaskFactory(assigned_user_id=capped.user_id, status=Task.Status.IN_PROGRESS)
    _set(capped, "active", max_open_tasks=2)
    decisions = _decide(role, ROUND_ROBIN, 4)
    assert [d.user_id for d in decisions] == [capped.user_id, free.user_id, free.user_id, free.user_id]
    assert decisions[0].filters[-1] == {"filter": "capacity", "removed": []}
    assert decisions[2].filters[-1] == {"filter": "capacity", "removed": [capped.user_id]}
    _set(capped, "active", max_open_tasks=1)  # (the picks above were not applied: capped still holds one task)
    _set(free, "active", max_open_tasks=0)
    [held] = _decide(role, ROUND_ROBIN, 1)
    assert held.outcome == "held" and held.filters[-1]["removed"] == [capped.user_id, free.user_id]
    assert replay_decisions([*decisions, held]).mismatches == []


@pytest.mark.django_db
def test_hold_policy_leaves_the_pick_empty_and_keeps_the_pointer():
    role, users = role_with_users(1)
    _set(users[0], "away")
    [decision] = _decide(role, ROUND_ROBIN, 1)
    assert (decision.user_id, decision.outcome, decision.cursor_after) == (None, "held", None)


@pytest.mark.django_db
def test_escalate_to_lead_policy_gives_the_task_to_the_role_lead():
    role, users = role_with_users(2)
    lead = users[1]
    RoleSettings.objects.create(role=role, lead_user=lead, updated_at=timezone.now())
    _set(users[0], "away")
    _set(lead, "away")  # an away lead is still the explicit target
    rule = PickRule("round_robin", NoEligiblePolicy.ESCALATE_TO_LEAD)
    [decision] = _decide(role, rule, 1)
    assert (decision.user_id, decision.outcome) == (lead.user_id, "escalated_to_lead")
    assert decision.detail == {"lead": lead.user_id, "lead_eligible": True}
    _set(lead, "unavailable")
    [decision] = _decide(role, rule, 1)
    assert (decision.user_id, decision.outcome) == (None, "held")


@pytest.mark.django_db
def test_least_loaded_away_policy_picks_among_away_users_only():
    role, users = role_with_users(3)
    ids = sorted(u.user_id for u in users)
    TaskFactory(assigned_user_id=ids[0], status=Task.Status.IN_PROGRESS)
    _set(next(u for u in users if u.user_id == ids[0]), "away")
    _set(next(u for u in users if u.user_id == ids[1]), "away")
    _set(next(u for u in users if u.user_id == ids[2]), "unavailable")
    decisions = _decide(role, PickRule("round_robin", NoEligiblePolicy.LEAST_LOADED_AWAY), 2)
    assert [d.user_id for d in decisions] == [ids[1], ids[0]]  # loads 1/0, then 1/1: round-robin from the start
    assert {d.outcome for d in decisions} == {"least_loaded_away"}


@pytest.mark.django_db
def test_ingestion_stores_a_decision_per_task_and_replay_reproduces_it():
    coordinators, _ = role_with_users(1)
    agents, users = role_with_users(3)
    deployed_workflow(step_roles=[agents], coordinator_role=coordinators, category="IT Support", sub_category="Network")
    _set(users[1], "away")
    tasks = [ingested_task(f"T-{i}") for i in range(5)]
    decisions = list(AssignmentDecision.objects.order_by("role_id", "sequence"))
    assert len(decisions) == 5
    by_task = {d.task_id: d for d in decisions}
    assert all(by_task[t.pk].user_id == t.assigned_user_id for t in tasks)
    assert users[1].user_id not in {t.assigned_user_id for t in tasks}
    replay = replay_decisions(decisions)
    assert replay.mismatches == [] and replay.broken_chains == []
    stored = Assignment.objects.filter(role=agents).values_list("user_id", flat=True)
    assert dict(replay.counts) == {u: list(stored).count(u) for u in set(stored)}


@pytest.mark.django_db
def test_replay_flags_a_decision_that_does_not_follow_from_its_inputs():
    agents, users = role_with_users(2)
    coordinators, _ = role_with_users(1)
    deployed_workflow(step_roles=[agents], coordinator_role=coordinators, category="IT Support", sub_category="Network")
    ingested_task("T-1")
    decision = AssignmentDecision.objects.get()
    decision.user_id = next(u.user_id for u in users if u.user_id != decision.user_id)
    assert replay_decisions([decision]).mismatches == [decision.pk]


@pytest.mark.django_db
def test_an_unavailable_user_hands_open_tasks_on_and_a_returning_one_takes_pending_work():
    coordinators, _ = role_with_users(1)
    agents, users = role_with_users(2)
    deployed_workflow(step_roles=[agents], coordinator_role=coordinators, category="IT Support", sub_category="Network")
    first, second = sorted(users, key=lambda u: u.user_id)
    task = ingested_task("T-1")
    assert task.assigned_user_id == first.user_id
    _set(second, "away")
    _set(first, "unavailable")  # nobody eligible: the step holds (pending, admins told)
    task.refresh_from_db()
    assert (task.status, task.assigned_user_id) == (Task.Status.PENDING, None)
    assert task.decisions.order_by("decided_at", "id").last().outcome == "held"
    _set(second, "active")
    task.refresh_from_db()
    assert (task.status, task.assigned_user_id) == (Task.Status.IN_PROGRESS, second.user_id)
    assert Assignment.objects.filter(task=task, ended_at__isnull=True).get().user_id == second.user_id


@pytest.mark.django_db
def test_away_keeps_current_tasks():
    coordinators, _ = role_with_users(1)
    agents, users = role_with_users(2)
    deployed_workflow(step_roles=[agents], coordinator_role=coordinators, category="IT Support", sub_category="Network")
    task = ingested_task("T-1")
    _set(next(u for u in users if u.user_id == task.assigned_user_id), "away")
    task.refresh_from_db()
    assert task.status == Task.Status.IN_PROGRESS and task.assigned_user_id is not None


@pytest.mark.django_db
def test_fairness_counts_assignments_per_member_in_the_window():
    coordinators, _ = role_with_users(1)
    agents, users = role_with_users(3)
    newcomer = UserFactory()
    UserRoleFactory(user=newcomer, role=agents)
    deployed_workflow(step_roles=[agents], coordinator_role=coordinators, category="IT Support", sub_category="Network")
    _set(newcomer, "away")
    start = timezone.now()
    for i in range(7):
        ingested_task(f"T-{i}")
    fairness = role_fairness(role_id=agents.pk, since=start)
    assert sorted(fairness.counts.values()) == [0, 2, 2, 3]
    assert fairness.counts[newcomer.user_id] == 0 and fairness.spread == 3
    assert sum(role_fairness(role_id=agents.pk, until=start).counts.values()) == 0


@pytest.mark.django_db
def test_availability_changes_are_audited_at_their_time():
    _, users = role_with_users(1)
    _set(users[0], "away")
    row = AgentAvailability.objects.get(pk=users[0].pk)
    event = AuditEvent.objects.get(action="agent.availability_changed")
    assert event.occurred_at == row.updated_at and event.data["status"] == "away" and event.data["previous"] == "active"


@pytest.mark.django_db
def test_released_tasks_follow_the_steps_policy():
    coordinators, _ = role_with_users(1)
    agents, users = role_with_users(2)
    workflow = deployed_workflow(
        step_roles=[agents], coordinator_role=coordinators, category="IT Support", sub_category="Network"
    )
    first, lead = sorted(users, key=lambda u: u.user_id)
    workflow.steps.update(no_eligible_policy=NoEligiblePolicy.ESCALATE_TO_LEAD)
    RoleSettings.objects.create(role=agents, lead_user=lead, updated_at=timezone.now())
    _set(lead, "away")
    task = ingested_task("T-1")
    assert task.assigned_user_id == first.user_id
    _set(first, "unavailable")
    task.refresh_from_db()
    assert (task.status, task.assigned_user_id) == (Task.Status.IN_PROGRESS, lead.user_id)
    decision = task.decisions.order_by("decided_at", "id").last()
    assert (decision.outcome, decision.user_id) == ("escalated_to_lead", lead.user_id)
    assert decision.filters[2:4] == [
        {"filter": "unavailable", "removed": [first.user_id]},
        {"filter": "away", "removed": [lead.user_id]},
    ]
