"""Round-robin assignment (DESIGN §4).

Each role has one persisted pointer (``RoundRobinCursor``: the last user picked). A pick locks the pointer row
(SELECT ... FOR UPDATE) until the caller's transaction commits, reads the role's eligible users in user_id order
and moves the pointer on: every worker on every machine serialises on that row, so over any run per-user counts
differ by at most one and no slot is handed out twice or skipped. When a batch needs several pointers they are
locked in one statement in role_id order, so workers locking overlapping sets cannot deadlock.

Eligible = an active user holding the role, the role itself active.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from workflow_api.models import Assignment, RoleReplica, RoundRobinCursor, StepInstance, Task, UserRole
from workflow_api.services import notify
from workflow_api.services.audit import audit_event, record_events


def lock_cursors(role_ids: Iterable[int]) -> dict[int, RoundRobinCursor]:
    """Lock (creating if need be) the pointers of ``role_ids``, in role_id order; call inside a transaction."""
    ids = sorted(set(role_ids))
    if not ids:
        return {}
    # Creating with ON CONFLICT DO NOTHING, never get_or_create: two workers meeting a new role must not collide.
    RoundRobinCursor.objects.bulk_create([RoundRobinCursor(role_id=i) for i in ids], ignore_conflicts=True)
    cursors = RoundRobinCursor.objects.select_for_update().filter(role_id__in=ids).order_by("role_id")
    return {cursor.role_id: cursor for cursor in cursors}


def pick_for_roles(counts: Mapping[int, int]) -> dict[int, list[int | None]]:
    """For each role_id, the next ``count`` eligible users in round-robin order (``[None] * count`` if none).

    Must run inside the transaction that records the picks: the pointers stay locked until it ends.
    """
    wanted = {role_id: count for role_id, count in counts.items() if count > 0}
    cursors = lock_cursors(wanted)
    members: dict[int, list[int]] = defaultdict(list)
    rows = (
        UserRole.objects.filter(role_id__in=wanted, user__is_active=True, role__is_active=True)
        .order_by("role_id", "user_id")
        .values_list("role_id", "user_id")
    )
    for role_id, user_id in rows:
        members[role_id].append(user_id)
    picks: dict[int, list[int | None]] = {}
    moved: list[RoundRobinCursor] = []
    for role_id, count in wanted.items():
        users = members[role_id]
        if not users:
            picks[role_id] = [None] * count
            continue
        cursor = cursors[role_id]
        # The first user after the last one picked (the pointer may name a user who has since left the role).
        start = next((i for i, user_id in enumerate(users) if cursor.last_user_id is None or user_id > cursor.last_user_id), 0)
        chosen = [users[(start + i) % len(users)] for i in range(count)]
        picks[role_id] = list(chosen)
        cursor.last_user_id = chosen[-1]
        moved.append(cursor)
    if moved:
        RoundRobinCursor.objects.bulk_update(moved, ["last_user_id"])
    return picks


def pick_assignees(role: RoleReplica, count: int) -> list[int | None]:
    """The next ``count`` users of ``role`` in round-robin order; ``[None] * count`` if it has no active user."""
    if count <= 0:
        return []
    return pick_for_roles({role.pk: count})[role.pk]


def apply_picks(tasks: Sequence[Task], picks: Sequence[int | None], *, now: datetime) -> None:
    """Set the picked assignees on the tasks in memory (the caller saves them, or inserts them new): a task with
    a user is in progress, one without is pending (a task on hold stays on hold)."""
    for task, user_id in zip(tasks, picks, strict=True):
        task.assigned_user_id = user_id
        if task.status != Task.Status.ON_HOLD:
            task.status = Task.Status.IN_PROGRESS if user_id else Task.Status.PENDING
        task.updated_at = now


def record_assignments(
    pairs: Sequence[tuple[Task, StepInstance]],
    *,
    now: datetime,
    actor_id: int | None = None,
    reason: str = Assignment.Reason.ROUND_ROBIN,
    role: RoleReplica | None = None,
    audit: bool = True,
) -> None:
    """For saved tasks (``assigned_user`` set by :func:`apply_picks`) on their active step instances: Assignment
    rows, audit events and assignment notifications after commit. Tasks left without a user are reported to the
    admins, once per role per call. The role is ``role`` or else each instance's step role (best loaded).
    ``audit=False`` leaves the audit event to the caller."""
    assignments: list[Assignment] = []
    events = []
    notices: list[tuple[Task, int, str]] = []
    unassigned: dict[int, list[Task]] = defaultdict(list)
    roles: dict[int, RoleReplica] = {}
    fixed_role = role
    for task, instance in pairs:
        role = fixed_role or instance.step.role
        roles[role.pk] = role
        if task.assigned_user_id is None:
            unassigned[role.pk].append(task)
            continue
        assignments.append(
            Assignment(
                task=task,
                step_instance=instance,
                user_id=task.assigned_user_id,
                role=role,
                reason=reason,
                assigned_by_id=actor_id,
                assigned_at=now,
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
                    data={"user_id": task.assigned_user_id, "role_id": role.pk, "step_id": instance.step_id, "reason": reason},
                    at=now,
                )
            )
        notices.append((task, task.assigned_user_id, role.name))
    Assignment.objects.bulk_create(assignments, batch_size=1000)
    record_events(events)
    notify.notify_assignments(notices)
    if unassigned:
        admins = notify.admin_user_ids()
        for role_id, waiting in unassigned.items():
            name = roles[role_id].name
            notify.notify_users(
                admins,
                "task_escalation",
                f"{len(waiting)} task(s) waiting: role {name} has no active user",
                f"No active user holds the role {name!r}; the tasks stay pending until someone joins it.",
                metadata={
                    "reason": "no_active_user",
                    "role_id": role_id,
                    "task_ids": [str(task.task_id) for task in waiting[:100]],
                },
            )


def assign_step_instances(
    pairs: Sequence[tuple[Task, StepInstance]],
    role: RoleReplica,
    picks: Sequence[int | None],
    *,
    now: datetime,
    actor_id: int | None = None,
    reason: str = Assignment.Reason.ROUND_ROBIN,
) -> None:
    """Make ``picks`` (users of ``role``) the holders of the tasks' active steps: :func:`apply_picks` (the caller
    saves the tasks) then :func:`record_assignments`."""
    apply_picks([task for task, _ in pairs], picks, now=now)
    record_assignments(pairs, now=now, actor_id=actor_id, reason=reason, role=role)


def _active_steps(tasks: Sequence[Task]) -> dict[object, StepInstance]:
    instances = StepInstance.objects.filter(task__in=tasks, status=StepInstance.Status.ACTIVE).select_related("step__role")
    return {instance.task_id: instance for instance in instances}


def _reassign(tasks: Sequence[Task], *, now: datetime) -> int:
    """Assign open tasks (already locked by the caller) round-robin from their current steps' roles."""
    instances = _active_steps(tasks)
    by_role: dict[int, list[tuple[Task, StepInstance]]] = defaultdict(list)
    for task in tasks:
        instance = instances.get(task.pk)
        if instance is not None:
            by_role[instance.step.role_id].append((task, instance))
    picks = pick_for_roles({role_id: len(pairs) for role_id, pairs in by_role.items()})
    pairs = [pair for role_id in sorted(by_role) for pair in by_role[role_id]]
    for role_id in by_role:
        apply_picks([task for task, _ in by_role[role_id]], picks[role_id], now=now)
    Task.objects.bulk_update([task for task, _ in pairs], ["assigned_user", "status", "updated_at"], batch_size=500)
    record_assignments(pairs, now=now)
    return sum(1 for task, _ in pairs if task.assigned_user_id is not None)


@transaction.atomic
def assign_pending_tasks(role_id: int) -> int:
    """Assign the pending, unassigned tasks whose current step belongs to ``role_id``; returns how many got a user.

    Called when the role gains an active user. The pointer is locked *before* the tasks are read, so a batch that
    is just now leaving tasks pending for want of users (holding the same pointer) commits first and its tasks
    are seen here.
    """
    lock_cursors([role_id])
    tasks = list(
        Task.objects.select_for_update(of=("self",))
        .filter(status=Task.Status.PENDING, assigned_user__isnull=True, current_step__role_id=role_id)
        .order_by("created_at", "task_id")
    )
    if not tasks or not UserRole.objects.filter(role_id=role_id, user__is_active=True, role__is_active=True).exists():
        return 0
    return _reassign(tasks, now=timezone.now())


@transaction.atomic
def release_user_tasks(user_id: int) -> int:
    """Hand a deactivated user's open tasks to the next users of their steps' roles; returns how many moved.

    Their open assignments end now; tasks with no other eligible user go back to pending (admins are told).
    """
    tasks = list(
        Task.objects.select_for_update(of=("self",))
        .filter(assigned_user_id=user_id, status__in=Task.OPEN_STATUSES)
        .order_by("created_at", "task_id")
    )
    if not tasks:
        return 0
    now = timezone.now()
    Assignment.objects.filter(task__in=tasks, user_id=user_id, ended_at__isnull=True).update(ended_at=now)
    record_events(
        [
            audit_event(
                "task.released",
                entity_type="task",
                entity_id=str(task.task_id),
                ticket_id=task.external_ticket_id,
                data={"user_id": user_id, "reason": "user_deactivated"},
                at=now,
            )
            for task in tasks
        ]
    )
    _reassign(tasks, now=now)
    return len(tasks)
