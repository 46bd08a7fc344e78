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

from django.db import connection, transaction
from django.utils import timezone

from workflow_api.models import Assignment, RoleReplica, RoundRobinCursor, StepInstance, Task, UserReplica, UserRole
from workflow_api.services import notify
from workflow_api.services.audit import audit_event, record_events


def lock_cursors(role_ids: Iterable[int]) -> dict[int, RoundRobinCursor]:
    """Lock (creating if need be) the pointers of ``role_ids``, in role_id order; call inside a transaction.

    One statement when the pointers exist (the steady state); a role seen for the first time costs an
    INSERT ... ON CONFLICT DO NOTHING (never get_or_create: two workers meeting a new role must not collide) and a
    second locking read.
    """
    ids = sorted(set(role_ids))
    if not ids:
        return {}
    if connection.vendor != "postgresql":  # the embedded SQLite profile: the ORM (SQLite locks the whole database)
        RoundRobinCursor.objects.bulk_create([RoundRobinCursor(role_id=i) for i in ids], ignore_conflicts=True)
        cursors = RoundRobinCursor.objects.select_for_update().filter(role_id__in=ids).order_by("role_id")
        return {cursor.role_id: cursor for cursor in cursors}
    table = RoundRobinCursor._meta.db_table
    lock = f"SELECT role_id, last_user_id FROM {table} WHERE role_id = ANY(%s) ORDER BY role_id FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(lock, [ids])
        rows = cursor.fetchall()
        if len(rows) < len(ids):
            missing = sorted(set(ids) - {role_id for role_id, _ in rows})
            cursor.execute(
                f"INSERT INTO {table} (role_id, last_user_id) SELECT unnest(%s::bigint[]), NULL ON CONFLICT DO NOTHING",
                [missing],
            )
            cursor.execute(lock, [missing])
            rows += cursor.fetchall()
    return {role_id: RoundRobinCursor(role_id=role_id, last_user_id=last) for role_id, last in rows}


def role_members(role_ids: Iterable[int]) -> dict[int, list[int]]:
    """The eligible users of each role (active user, active role), in user_id order: the round-robin order."""
    members: dict[int, list[int]] = defaultdict(list)
    ids = sorted(set(role_ids))
    if not ids:
        return members
    if connection.vendor != "postgresql":
        rows = (
            UserRole.objects.filter(role_id__in=ids, user__is_active=True, role__is_active=True)
            .order_by("role_id", "user_id")
            .values_list("role_id", "user_id")
        )
        for role_id, user_id in rows:
            members[role_id].append(user_id)
        return members
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT ur.role_id, ur.user_id FROM {UserRole._meta.db_table} ur
                JOIN {UserReplica._meta.db_table} u ON u.user_id = ur.user_id AND u.is_active
                JOIN {RoleReplica._meta.db_table} r ON r.role_id = ur.role_id AND r.is_active
                WHERE ur.role_id = ANY(%s) ORDER BY ur.role_id, ur.user_id""",
            [ids],
        )
        for role_id, user_id in cursor.fetchall():
            members[role_id].append(user_id)
    return members


def pick_for_roles(
    counts: Mapping[int, int], *, locked: Mapping[int, RoundRobinCursor] | None = None
) -> dict[int, list[int | None]]:
    """For each role_id, the next ``count`` eligible users in round-robin order (``[None] * count`` if none).

    Must run inside the transaction that records the picks: the pointers stay locked until it ends. ``locked``:
    pointers the caller has already locked (:func:`lock_cursors`) in this transaction, covering ``counts``.
    """
    wanted = {role_id: count for role_id, count in counts.items() if count > 0}
    cursors = locked if locked is not None and set(wanted) <= set(locked) else lock_cursors(wanted)
    # Read after the pointers are locked: a user who joined a role before the last holder of its pointer
    # committed is seen here (assign_pending_tasks relies on this ordering).
    members = role_members(wanted)
    picks: dict[int, list[int | None]] = {}
    moved: list[tuple[int, int]] = []
    for role_id, count in wanted.items():
        users = members[role_id]
        if not users:
            picks[role_id] = [None] * count
            continue
        last = cursors[role_id].last_user_id
        # The first user after the last one picked (the pointer may name a user who has since left the role).
        start = next((i for i, user_id in enumerate(users) if last is None or user_id > last), 0)
        chosen = [users[(start + i) % len(users)] for i in range(count)]
        picks[role_id] = list(chosen)
        cursors[role_id].last_user_id = chosen[-1]
        moved.append((role_id, chosen[-1]))
    if moved and connection.vendor != "postgresql":
        for role_id, user_id in moved:
            RoundRobinCursor.objects.filter(role_id=role_id).update(last_user_id=user_id)
    elif moved:
        with connection.cursor() as cursor:
            cursor.execute(
                f"""UPDATE {RoundRobinCursor._meta.db_table} c SET last_user_id = m.last_user_id
                    FROM unnest(%s::bigint[], %s::bigint[]) AS m(role_id, last_user_id) WHERE c.role_id = m.role_id""",
                [[role_id for role_id, _ in moved], [user_id for _, user_id in moved]],
            )
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
    report_unassigned(
        {role_id: (roles[role_id].name, [str(task.task_id) for task in waiting]) for role_id, waiting in unassigned.items()}
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
            f"{len(task_ids)} task(s) waiting: role {name} has no active user",
            f"No active user holds the role {name!r}; the tasks stay pending until someone joins it.",
            metadata={"reason": "no_active_user", "role_id": role_id, "task_ids": list(task_ids[:100])},
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

    Their open assignments end now; tasks with no other eligible user go back to pending (admins are told). Tasks
    waiting on AMS/BMS stay: their step's human decision is made, and the outside system's answer moves them on.
    """
    tasks = list(
        Task.objects.select_for_update(of=("self",))
        .filter(assigned_user_id=user_id, status__in=Task.OPEN_STATUSES)
        .exclude(status__in=Task.EXTERNAL_STATUSES)
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
