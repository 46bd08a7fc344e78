"""Assignment (DESIGN §4): round-robin or least-loaded per step, availability-aware, every decision stored.

Each role has one persisted pointer (``RoundRobinCursor``: the last user picked). A pick locks the pointer row
(SELECT ... FOR UPDATE) until the caller's transaction commits, reads the role's eligible users in user_id order
and moves the pointer on: every worker on every machine serialises on that row, so over any run of round-robin
picks the counts of the users eligible throughout differ by at most one (the pointer passes each of them once per
round, whoever else comes and goes) and no slot is handed out twice or skipped. When a batch needs several pointers they are
locked in one statement in role_id order, so workers locking overlapping sets cannot deadlock.

Eligible = a user holding the role, the role active, the user active and available (not away, not unavailable,
not inside an out-of-office window) and under their capacity (``max_open_tasks``). With nobody eligible the step's policy decides: hold (pending, admins told),
the role's lead, or the least-loaded away user. Each pick becomes a :class:`Decision` (stored as
``AssignmentDecision`` by the caller's transaction) holding enough to replay it: selectors/assignment.py.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from tts_common.messaging import outbox
from workflow_api.models import (
    AgentAvailability,
    Assignment,
    AssignmentDecision,
    AssignmentStrategy,
    NoEligiblePolicy,
    RoleReplica,
    RoleSettings,
    RoundRobinCursor,
    StepInstance,
    Task,
    UserReplica,
    UserRole,
    WorkflowStep,
)
from workflow_api.services import notify
from workflow_api.services.audit import audit_event, record_events
from workflow_api.services.reports import assignment_deltas, end_assignments_away, record_deltas


def lock_cursors(role_ids: Iterable[int]) -> dict[int, RoundRobinCursor]:
    """Lock (creating if need be) the pointers of ``role_ids``, in role_id order; call inside a transaction.

    One statement when the pointers exist (the steady state). That statement locks nothing unless *all* of them
    exist: locking the existing ones and then creating the others would hold a later pointer while waiting for an
    earlier one (a deadlock with a worker locking both in order). So a role seen for the first time costs an
    INSERT ... ON CONFLICT DO NOTHING of the missing ones (never get_or_create: two workers meeting a new role must
    not collide) and the locking read again.
    """
    ids = sorted(set(role_ids))
    if not ids:
        return {}
    table = RoundRobinCursor._meta.db_table
    lock = f"""SELECT role_id, last_user_id, sequence FROM {table}
               WHERE role_id = ANY(%(ids)s) AND (SELECT count(*) FROM {table} WHERE role_id = ANY(%(ids)s)) = %(n)s
               ORDER BY role_id FOR UPDATE"""
    with connection.cursor() as cursor:
        cursor.execute(lock, {"ids": ids, "n": len(ids)})
        rows = cursor.fetchall()
        if not rows:
            # Waits for any concurrent creator of the same rows, so afterwards they all exist for this transaction.
            cursor.execute(
                f"INSERT INTO {table} (role_id, last_user_id, sequence) SELECT unnest(%s::bigint[]), NULL, 0 "
                "ON CONFLICT DO NOTHING",
                [ids],
            )
            cursor.execute(lock, {"ids": ids, "n": len(ids)})
            rows = cursor.fetchall()
    return {role_id: RoundRobinCursor(role_id=role_id, last_user_id=last, sequence=seq) for role_id, last, seq in rows}


@dataclass(frozen=True, slots=True)
class PickRule:
    """How a step picks among its role's users (``WorkflowStep.assignment_strategy`` / ``no_eligible_policy``)."""

    strategy: str = AssignmentStrategy.ROUND_ROBIN
    policy: str = NoEligiblePolicy.HOLD
    # False for a pick that hands over no work (a task's owner): it adds to nobody's open tasks, so it must not
    # count in the loads later picks compare (they would then depend on how picks are grouped into calls).
    assigns: bool = True

    @classmethod
    def of(cls, step: WorkflowStep) -> PickRule:
        return cls(step.assignment_strategy, step.no_eligible_policy)


ROUND_ROBIN = PickRule()
OWNER = PickRule(assigns=False)


@dataclass(slots=True)
class Decision:
    """One pick, as stored in ``AssignmentDecision``; ``candidates``/``filters`` are shared by a call's picks."""

    role_id: int
    strategy: str
    policy: str
    candidates: list[int]
    filters: list[dict[str, Any]]
    cursor_before: int | None
    cursor_after: int | None
    user_id: int | None
    outcome: str
    decided_at: datetime
    sequence: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def direct(cls, role_id: int, user_id: int, *, now: datetime) -> Decision:
        """A user named by a person or a rule (transfer, escalation to the owner), not picked by a strategy."""
        return cls(
            role_id, AssignmentDecision.Strategy.DIRECT, "", [user_id], [], None, None, user_id,
            AssignmentDecision.Outcome.DIRECT, now,
        )  # fmt: skip

    def row(self, task: Task, instance: StepInstance, reason: str) -> AssignmentDecision:
        return AssignmentDecision(
            task=task, step_instance=instance, role_id=self.role_id, sequence=self.sequence, strategy=self.strategy,
            policy=self.policy, candidates=self.candidates, filters=self.filters, detail=self.detail,
            cursor_before=self.cursor_before, cursor_after=self.cursor_after, user_id=self.user_id,
            outcome=self.outcome, reason=reason, decided_at=self.decided_at,
        )  # fmt: skip


@dataclass(slots=True)
class RolePool:
    """A role's users as a pick sees them: everyone holding it, each filter's removals, who is left."""

    candidates: list[int] = field(default_factory=list)
    filters: list[dict[str, Any]] = field(default_factory=list)  # the last, capacity, filled in per pick
    eligible: list[int] = field(default_factory=list)  # before the capacity filter
    away: list[int] = field(default_factory=list)  # removed as away only: least_loaded_away picks among them
    capacity: dict[int, int] = field(default_factory=dict)  # eligible users with a cap on their open tasks


# Filters in the order they apply; a user is listed under the first that removes them. Capacity depends on the
# open tasks at each pick (a batch fills a user up), the others are read once per call.
FILTERS = ("role", "active", "unavailable", "away", "capacity")


def is_away(status: str, away_from: datetime | None, away_until: datetime | None, now: datetime) -> bool:
    """Whether an availability record keeps its user from new work at ``now``, without making them unavailable."""
    if status == AgentAvailability.Status.AWAY:
        return True
    in_window = (away_from is not None or away_until is not None) and (
        (away_from is None or away_from <= now) and (away_until is None or now < away_until)
    )
    return status == AgentAvailability.Status.ACTIVE and in_window


def role_pools(role_ids: Iterable[int], *, now: datetime) -> dict[int, RolePool]:
    """Each role's :class:`RolePool` at ``now``; users in user_id order, the round-robin order.

    Read by a pick after the role's pointer is locked: an availability change locks the same pointers before it
    commits, so a pick either sees the change or commits before it (services/availability.py).
    """
    pools: dict[int, RolePool] = defaultdict(RolePool)
    ids = sorted(set(role_ids))
    if not ids:
        return pools
    rows = (
        UserRole.objects.filter(role_id__in=ids)
        .order_by("role_id", "user_id")
        .values_list(
            "role_id", "user_id", "role__is_active", "user__is_active", "user__availability__status",
            "user__availability__away_from", "user__availability__away_until", "user__availability__max_open_tasks",
        )
    )  # fmt: skip
    removed: dict[int, dict[str, list[int]]] = defaultdict(lambda: {name: [] for name in FILTERS})
    for role_id, user_id, role_active, user_active, status, away_from, away_until, cap in rows:
        pool = pools[role_id]
        pool.candidates.append(user_id)
        status = status or AgentAvailability.Status.ACTIVE
        if not role_active:
            removed[role_id]["role"].append(user_id)
        elif not user_active:
            removed[role_id]["active"].append(user_id)
        elif status == AgentAvailability.Status.UNAVAILABLE:
            removed[role_id]["unavailable"].append(user_id)
        elif is_away(status, away_from, away_until, now):
            removed[role_id]["away"].append(user_id)
            pool.away.append(user_id)
        else:
            pool.eligible.append(user_id)
            if cap is not None:
                pool.capacity[user_id] = cap
    for role_id, pool in pools.items():
        pool.filters = [{"filter": name, "removed": removed[role_id][name]} for name in FILTERS]
    return pools


def next_in_turn(users: Sequence[int], last: int | None) -> int:
    """Round-robin: the first of ``users`` (user_id order) after ``last``, wrapping round (``last`` may have left)."""
    return next((user_id for user_id in users if last is None or user_id > last), users[0])


def least_loaded(users: Sequence[int], loads: Mapping[int, int], last: int | None) -> int:
    """The user with the fewest open tasks; ties go round-robin from ``last``."""
    fewest = min(loads.get(user_id, 0) for user_id in users)
    return next_in_turn([user_id for user_id in users if loads.get(user_id, 0) == fewest], last)


def open_task_counts(user_ids: Iterable[int]) -> dict[int, int]:
    rows = (
        Task.objects.filter(assigned_user_id__in=set(user_ids), status__in=Task.OPEN_STATUSES)
        .values("assigned_user_id")
        .annotate(open=Count("task_id"))
        .values_list("assigned_user_id", "open")
    )
    return dict(rows)


def role_leads(role_ids: Iterable[int]) -> dict[int, int]:
    """The lead of each role that has one (RoleSettings)."""
    return dict(
        RoleSettings.objects.filter(role_id__in=set(role_ids), lead_user__isnull=False).values_list("role_id", "lead_user_id")
    )


@dataclass(slots=True)
class PickInputs:
    """What a call's picks read once (after the pointers are locked, when the picks are for real)."""

    now: datetime
    pools: dict[int, RolePool]
    loads: dict[int, int]  # open tasks of the users whose load matters, counted up as picks are made
    leads: dict[int, int]  # role_id -> lead, for roles whose policy may need one
    eligible_leads: set[int]  # leads neither deactivated nor unavailable (an away lead is still the explicit target)


def pick_inputs(keys: Iterable[tuple[int, PickRule]], *, now: datetime) -> PickInputs:
    """Everything picks for ``keys`` (role_id, rule) read, at ``now``: reads only, shared by :func:`decide` and the
    routing simulator (selectors/simulation.py), so a dry run sees what a pick would."""
    keys = set(keys)
    pools = role_pools({role_id for role_id, _ in keys}, now=now)
    loaded = set()
    for role_id, rule in keys:
        pool = pools[role_id]
        loaded |= set(pool.eligible if rule.strategy == AssignmentStrategy.LEAST_LOADED else pool.capacity)
        loaded |= set(pool.away if rule.policy == NoEligiblePolicy.LEAST_LOADED_AWAY else ())
    leads = role_leads(r for r, rule in keys if rule.policy == NoEligiblePolicy.ESCALATE_TO_LEAD)
    eligible_leads = set(
        UserReplica.objects.filter(pk__in=set(leads.values()), is_active=True)
        .exclude(availability__status=AgentAvailability.Status.UNAVAILABLE)
        .values_list("pk", flat=True)
    ) if leads else set()  # fmt: skip
    return PickInputs(now, pools, open_task_counts(loaded) if loaded else {}, leads, eligible_leads)


def decide_in_order(
    keys: Sequence[tuple[int, PickRule]], *, locked: Mapping[int, RoundRobinCursor] | None = None
) -> list[Decision]:
    """One decision per (role_id, rule) of ``keys``, made in that order (a role's picks share its pointer and
    counter, whatever their rules). Same locking and transaction rules as :func:`decide`."""
    if not keys:
        return []
    role_ids = {role_id for role_id, _ in keys}
    cursors = locked if locked is not None and role_ids <= set(locked) else lock_cursors(role_ids)
    # Read after the pointers are locked (and timed after it): see role_pools. A user who joined a role before the
    # last holder of its pointer committed is seen here (assign_pending_tasks relies on this ordering too).
    inputs = pick_inputs(keys, now=timezone.now())
    decisions = [pick(role_id, rule, cursors[role_id], inputs) for role_id, rule in keys]
    _save_cursors([cursors[role_id] for role_id in sorted(role_ids)])
    return decisions


def decide(
    requests: Mapping[tuple[int, PickRule], int], *, locked: Mapping[int, RoundRobinCursor] | None = None
) -> dict[tuple[int, PickRule], list[Decision]]:
    """For each (role_id, rule), ``count`` decisions in pick order, each naming a user or none (held).

    Must run inside the transaction that records the picks: the pointers stay locked until it ends. ``locked``:
    pointers the caller has already locked (:func:`lock_cursors`) in this transaction, covering the roles.
    A role's requests share its pointer and pick counter; they are served in rule order, so the result does not
    depend on the mapping's order. The round-robin pointer moves only on picks among the eligible.
    """
    wanted = sorted(
        ((key, count) for key, count in requests.items() if count > 0),
        key=lambda item: (item[0][0], item[0][1].strategy, item[0][1].policy, item[0][1].assigns),
    )
    made = iter(decide_in_order([key for key, count in wanted for _ in range(count)], locked=locked))
    return {key: [next(made) for _ in range(count)] for key, count in wanted}


def pick(role_id: int, rule: PickRule, cursor: RoundRobinCursor, inputs: PickInputs) -> Decision:
    """One pick from the role's pool by ``rule``, moving ``cursor`` (in memory) and the loads on. Pure: no reads,
    no writes (the simulator calls it on copies of the pointers)."""
    pool, loads = inputs.pools[role_id], inputs.loads
    full = [u for u in pool.eligible if u in pool.capacity and loads.get(u, 0) >= pool.capacity[u]]
    eligible = [u for u in pool.eligible if u not in full] if full else pool.eligible
    filters = [*pool.filters[:-1], {"filter": "capacity", "removed": full}] if full else pool.filters
    before = cursor.last_user_id
    user_id: int | None = None
    detail: dict[str, Any] = {}
    outcome = AssignmentDecision.Outcome.HELD
    if eligible:
        if rule.strategy == AssignmentStrategy.LEAST_LOADED:
            detail["loads"] = {str(u): loads.get(u, 0) for u in eligible}
            user_id = least_loaded(eligible, loads, before)
        else:
            user_id = next_in_turn(eligible, before)
        cursor.last_user_id = user_id
        outcome = AssignmentDecision.Outcome.ASSIGNED
    elif rule.policy == NoEligiblePolicy.ESCALATE_TO_LEAD:
        lead = inputs.leads.get(role_id)
        detail = {"lead": lead, "lead_eligible": lead in inputs.eligible_leads}
        if lead in inputs.eligible_leads:
            user_id, outcome = lead, AssignmentDecision.Outcome.ESCALATED_TO_LEAD
    elif rule.policy == NoEligiblePolicy.LEAST_LOADED_AWAY and pool.away:
        detail["loads"] = {str(u): loads.get(u, 0) for u in pool.away}
        user_id = least_loaded(pool.away, loads, before)
        outcome = AssignmentDecision.Outcome.LEAST_LOADED_AWAY
    if user_id is not None and rule.assigns:
        loads[user_id] = loads.get(user_id, 0) + 1
    cursor.sequence += 1
    return Decision(
        role_id, rule.strategy, rule.policy, pool.candidates, filters, before, cursor.last_user_id, user_id, outcome,
        inputs.now, cursor.sequence, detail,
    )  # fmt: skip


def _save_cursors(cursors: Sequence[RoundRobinCursor]) -> None:
    if not cursors:
        return
    with connection.cursor() as db:
        db.execute(
            f"""UPDATE {RoundRobinCursor._meta.db_table} c SET last_user_id = m.last_user_id, sequence = m.sequence
                FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS m(role_id, last_user_id, sequence)
                WHERE c.role_id = m.role_id""",
            [[c.role_id for c in cursors], [c.last_user_id for c in cursors], [c.sequence for c in cursors]],
        )


def pick_for_roles(
    counts: Mapping[int, int], *, locked: Mapping[int, RoundRobinCursor] | None = None
) -> dict[int, list[int | None]]:
    """For each role_id, the next ``count`` eligible users in round-robin order (``None`` where nobody is
    eligible), for picks that are no assignment (a task's owner). Same locking as :func:`decide`."""
    decisions = decide({(role_id, ROUND_ROBIN): count for role_id, count in counts.items()}, locked=locked)
    return {role_id: [d.user_id for d in made] for (role_id, _), made in decisions.items()}


def decide_for_step(step: WorkflowStep, count: int) -> list[Decision]:
    """``count`` decisions for tasks entering ``step``, per its strategy and policy."""
    if count <= 0:
        return []
    rule = PickRule.of(step)
    return decide({(step.role_id, rule): count})[(step.role_id, rule)]


def pick_assignees(role: RoleReplica, count: int) -> list[int | None]:
    """The next ``count`` users of ``role`` in round-robin order; ``None`` where nobody is eligible."""
    if count <= 0:
        return []
    return pick_for_roles({role.pk: count})[role.pk]


def apply_picks(tasks: Sequence[Task], decisions: Sequence[Decision], *, now: datetime) -> None:
    """Set the decided assignees on the tasks in memory (the caller saves them, or inserts them new): a task with
    a user is in progress, one without is pending (a task on hold stays on hold)."""
    for task, decision in zip(tasks, decisions, strict=True):
        task.assigned_user_id = decision.user_id
        if task.status != Task.Status.ON_HOLD:
            task.status = Task.Status.IN_PROGRESS if decision.user_id else Task.Status.PENDING
        task.updated_at = now


def record_assignments(
    pairs: Sequence[tuple[Task, StepInstance]],
    decisions: Sequence[Decision],
    *,
    now: datetime,
    actor_id: int | None = None,
    reason: str = Assignment.Reason.ROUND_ROBIN,
    audit: bool = True,
) -> None:
    """For saved tasks (``assigned_user`` set by :func:`apply_picks` from ``decisions``) on their active step
    instances: the decisions, Assignment rows, audit events and assignment notifications after commit. Tasks left
    without a user are reported to the admins, once per role per call. ``audit=False`` leaves the audit event to
    the caller. messaging_service is sent the tasks' participants (their comments' readers)."""
    assignments: list[Assignment] = []
    events = []
    notices: list[tuple[Task, int, str]] = []
    unassigned: dict[int, list[Task]] = defaultdict(list)
    names = dict(RoleReplica.objects.filter(pk__in={d.role_id for d in decisions}).values_list("pk", "name"))
    for (task, instance), decision in zip(pairs, decisions, strict=True):
        role_id = decision.role_id
        if task.assigned_user_id is None:
            unassigned[role_id].append(task)
            continue
        assignments.append(
            Assignment(
                task=task,
                step_instance=instance,
                user_id=task.assigned_user_id,
                role_id=role_id,
                reason=reason,
                assigned_by_id=actor_id,
                assigned_at=now,
                task_created_at=task.created_at,
            )
        )
        if audit:
            events.append(
                audit_event(
                    "task.assigned",
                    entity_type="task",
                    entity_id=str(task.task_id),
                    actor_id=actor_id,
                    ticket_id=task.external_ticket_id,
                    data={
                        "user_id": task.assigned_user_id, "role_id": role_id, "step_id": instance.step_id,
                        "reason": reason, "outcome": decision.outcome,
                    },  # fmt: skip
                    at=now,
                )
            )
        notices.append((task, task.assigned_user_id, names[role_id]))
    AssignmentDecision.objects.bulk_create(
        [decision.row(task, instance, reason) for (task, instance), decision in zip(pairs, decisions, strict=True)],
        batch_size=1000,
    )
    Assignment.objects.bulk_create(assignments, batch_size=1000)
    record_deltas(assignment_deltas(pairs, reason, now=now))
    record_events(events)
    # One publish (one publisher-confirm wait): the new holders' notices and the tasks' participants.
    outbox.publish([*notify.assignment_messages(notices), *notify.task_participants_messages([t for t, _ in pairs])])
    report_unassigned(
        {role_id: (names[role_id], [str(task.task_id) for task in waiting]) for role_id, waiting in unassigned.items()}
    )


def report_unassigned(waiting: Mapping[int, tuple[str, Sequence[str]]]) -> None:
    """Tell the admins, once per role, that tasks (``role_id -> (role name, task ids)``) wait for a user."""
    if not waiting:
        return
    admins = notify.admin_user_ids()
    for role_id, (name, task_ids) in waiting.items():
        notify.notify_users(
            admins,
            "task_escalation",
            f"{len(task_ids)} task(s) waiting: role {name} has no eligible user",
            f"No user of the role {name!r} can take new work (none active and available, and the step's policy "
            "names nobody else); the tasks stay pending until someone can.",
            metadata={"reason": "no_active_user", "role_id": role_id, "task_ids": list(task_ids[:100])},
        )


def assign_step_instances(
    pairs: Sequence[tuple[Task, StepInstance]],
    decisions: Sequence[Decision],
    *,
    now: datetime,
    actor_id: int | None = None,
    reason: str = Assignment.Reason.ROUND_ROBIN,
) -> None:
    """Make the decided users the holders of the tasks' active steps: :func:`apply_picks` (the caller saves the
    tasks) then :func:`record_assignments`."""
    apply_picks([task for task, _ in pairs], decisions, now=now)
    record_assignments(pairs, decisions, now=now, actor_id=actor_id, reason=reason)


def _active_steps(tasks: Sequence[Task]) -> dict[object, StepInstance]:
    instances = StepInstance.objects.filter(task__in=tasks, status=StepInstance.Status.ACTIVE).select_related("step__role")
    return {instance.task_id: instance for instance in instances}


def _reassign(tasks: Sequence[Task], *, now: datetime) -> int:
    """Assign open tasks (already locked by the caller) from their current steps' roles, per each step's rule."""
    instances = _active_steps(tasks)
    by_rule: dict[tuple[int, PickRule], list[tuple[Task, StepInstance]]] = defaultdict(list)
    for task in tasks:
        instance = instances.get(task.pk)
        if instance is not None:
            by_rule[(instance.step.role_id, PickRule.of(instance.step))].append((task, instance))
    decided = decide({key: len(pairs) for key, pairs in by_rule.items()})
    pairs = [pair for key in decided for pair in by_rule[key]]
    decisions = [decision for made in decided.values() for decision in made]
    apply_picks([task for task, _ in pairs], decisions, now=now)
    Task.objects.bulk_update([task for task, _ in pairs], ["assigned_user", "status", "updated_at"], batch_size=500)
    record_assignments(pairs, decisions, now=now)
    return sum(1 for task, _ in pairs if task.assigned_user_id is not None)


@transaction.atomic
def assign_pending_tasks(role_id: int) -> int:
    """Assign the pending, unassigned tasks whose current step belongs to ``role_id``; returns how many got a user.

    Called when the role may have gained an eligible user (joined, activated, back from away). The pointer is
    locked *before* the tasks are read, so a batch that is just now leaving tasks pending for want of users
    (holding the same pointer) commits first and its tasks are seen here.
    """
    lock_cursors([role_id])
    tasks = list(
        Task.objects.select_for_update(of=("self",))
        .filter(status=Task.Status.PENDING, assigned_user__isnull=True, current_step__role_id=role_id)
        .order_by("created_at", "task_id")
    )
    if not tasks or not role_pools([role_id], now=timezone.now())[role_id].eligible:
        return 0
    return _reassign(tasks, now=timezone.now())


@transaction.atomic
def release_user_tasks(user_id: int, *, reason: str = "user_deactivated") -> int:
    """Hand the open tasks of a user who can no longer work them (deactivated, unavailable) to others, per each
    step's strategy and policy; returns how many were released.

    Their open assignments end now; tasks nobody can take go back to pending (admins are told). Tasks waiting on
    AMS/BMS stay: their step's human decision is made, and the outside system's answer moves them on; so do tasks
    awaiting an asset selection (an admin can make it).
    """
    tasks = list(
        Task.objects.select_for_update(of=("self",))
        .filter(assigned_user_id=user_id, status__in=Task.OPEN_STATUSES)
        .exclude(status__in=(*Task.EXTERNAL_STATUSES, Task.Status.AWAITING_ASSET_SELECTION))
        .order_by("created_at", "task_id")
    )
    if not tasks:
        return 0
    now = timezone.now()
    end_assignments_away(tasks, now=now, user_id=user_id)
    record_events(
        [
            audit_event(
                "task.released",
                entity_type="task",
                entity_id=str(task.task_id),
                ticket_id=task.external_ticket_id,
                data={"user_id": user_id, "reason": reason},
                at=now,
            )
            for task in tasks
        ]
    )
    _reassign(tasks, now=now)
    return len(tasks)
