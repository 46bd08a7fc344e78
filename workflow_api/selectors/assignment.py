"""Reads about assignment: availability, role settings, fairness per role, and the replay of stored decisions."""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce

from workflow_api.models import (
    AgentAvailability,
    Assignment,
    AssignmentDecision,
    NoEligiblePolicy,
    RoleSettings,
    Task,
    UserReplica,
    UserRole,
)
from workflow_api.services.assignment import least_loaded, next_in_turn, role_pools


def transfer_targets(*, task: Task, now: datetime) -> list[UserReplica]:
    """Who the task may be transferred to: the active, available users of its current step's role (the rule the
    transfer itself checks), its assignee excepted."""
    if task.current_step is None:
        return []
    eligible = set(role_pools([task.current_step.role_id], now=now)[task.current_step.role_id].eligible)
    eligible.discard(task.assigned_user_id)
    return list(UserReplica.objects.filter(pk__in=eligible).order_by("username"))


def availability_get(*, user_id: int) -> AgentAvailability | None:
    """The user's availability (an unsaved default ``active`` when never set); None for an unknown user."""
    user = UserReplica.objects.select_related("availability").filter(pk=user_id).first()
    return None if user is None else user.current_availability


def agent_list() -> QuerySet[UserReplica]:
    """Users with their availability (null when never set: active), their roles and ``open_tasks`` (held open
    tasks, the number a capacity is compared with), in username order."""
    open_tasks = (
        Task.objects.filter(assigned_user_id=OuterRef("pk"), status__in=Task.OPEN_STATUSES)
        .order_by()
        .values("assigned_user_id")
        .annotate(n=Count("task_id"))
        .values("n")
    )
    return (
        UserReplica.objects.select_related("availability")
        .prefetch_related(Prefetch("roles", queryset=UserRole.objects.select_related("role").order_by("role__name")))
        .annotate(open_tasks=Coalesce(Subquery(open_tasks), 0))
        .order_by("username", "user_id")
    )


def role_settings_get(*, role_id: int) -> RoleSettings | None:
    return RoleSettings.objects.filter(role_id=role_id).first()


@dataclass(frozen=True, slots=True)
class Fairness:
    role_id: int
    since: datetime | None
    until: datetime | None
    counts: dict[int, int]  # user_id -> assignments from the role in the window (members with none: 0)
    usernames: dict[int, str]

    @property
    def users(self) -> list[dict[str, object]]:
        return [
            {"user_id": user_id, "username": self.usernames.get(user_id, ""), "assignments": count}
            for user_id, count in self.counts.items()
        ]

    @property
    def spread(self) -> int:
        return max(self.counts.values()) - min(self.counts.values()) if self.counts else 0


def role_fairness(*, role_id: int, since: datetime | None = None, until: datetime | None = None) -> Fairness:
    """Assignments made from ``role_id`` per user in [since, until): the role's members and anyone who got one."""
    assignments = Assignment.objects.filter(role_id=role_id)
    if since is not None:
        assignments = assignments.filter(assigned_at__gte=since)
    if until is not None:
        assignments = assignments.filter(assigned_at__lt=until)
    counts = {user_id: 0 for user_id in UserRole.objects.filter(role_id=role_id).values_list("user_id", flat=True)}
    counts |= dict(assignments.values("user_id").annotate(n=Count("id")).values_list("user_id", "n"))
    usernames = dict(UserReplica.objects.filter(pk__in=counts).values_list("pk", "username"))
    return Fairness(role_id, since, until, dict(sorted(counts.items())), usernames)


# --- Replay ------------------------------------------------------------------------------------------------------
def replay_choice(decision: AssignmentDecision) -> tuple[int | None, int | None]:
    """What the stored inputs of ``decision`` (candidates, filters, pointer before, loads, lead) choose, and where
    the pointer goes: ``(user_id, cursor_after)``. Pure: the same rules as services/assignment.decide."""
    if decision.strategy == AssignmentDecision.Strategy.DIRECT:
        return decision.candidates[0], decision.cursor_after
    removed = {user_id for entry in decision.filters for user_id in entry["removed"]}
    eligible = [user_id for user_id in decision.candidates if user_id not in removed]
    loads = {int(user_id): load for user_id, load in decision.detail.get("loads", {}).items()}
    before = decision.cursor_before
    if eligible:
        if decision.strategy == AssignmentDecision.Strategy.LEAST_LOADED:
            chosen = least_loaded(eligible, loads, before)
        else:
            chosen = next_in_turn(eligible, before)
        return chosen, chosen
    if decision.policy == NoEligiblePolicy.ESCALATE_TO_LEAD:
        return (decision.detail.get("lead") if decision.detail.get("lead_eligible") else None), before
    away: list[int] = next((entry["removed"] for entry in decision.filters if entry["filter"] == "away"), [])
    if decision.policy == NoEligiblePolicy.LEAST_LOADED_AWAY and away:
        return least_loaded(away, loads, before), before
    return None, before


@dataclass
class Replay:
    counts: Counter[int] = field(default_factory=Counter)  # user_id -> tasks the replayed choices assign
    mismatches: list[int] = field(default_factory=list)  # decisions whose replay differs from what was stored
    broken_chains: list[int] = field(default_factory=list)  # decisions whose pointer_before is not the previous after


def replay_decisions(decisions: Iterable[AssignmentDecision]) -> Replay:
    """Recompute every decision from its stored inputs and check it against the stored choice and pointer; also
    check that a role's consecutive picks (by sequence) hand the pointer on. Owner picks take sequence numbers
    without storing a decision, so only numbers exactly one apart are chained."""
    replay = Replay()
    by_role: dict[int, list[tuple[int, AssignmentDecision]]] = defaultdict(list)  # role -> (sequence, decision)
    for decision in decisions:
        chosen, after = replay_choice(decision)
        if chosen != decision.user_id or after != decision.cursor_after:
            replay.mismatches.append(decision.pk)
        if chosen is not None:
            replay.counts[chosen] += 1
        if decision.sequence is not None:
            by_role[decision.role_id].append((decision.sequence, decision))
    for chain in by_role.values():
        chain.sort(key=lambda pair: pair[0])
        for (previous_sequence, previous), (sequence, current) in zip(chain, chain[1:], strict=False):
            if sequence == previous_sequence + 1 and current.cursor_before != previous.cursor_after:
                replay.broken_chains.append(current.pk)
    return replay

