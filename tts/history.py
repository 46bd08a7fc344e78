"""A realistic, reproducible help-desk history for scale benchmarks and tests (``manage.py generate_history``).

It writes every service's tables, so it lives in the project package: the staff and the workflows go through the
services' own functions (small); the bulk — tasks and everything hanging off them — is simulated here and sent with
COPY, a chunk of tasks at a time. The same ``(tasks, seed, now)`` gives the same rows.

What a task's life looks like (every number is a :class:`Ratios` field, listed by ``--help``): it is raised at a
time weighted to weekday office hours over the last two years, goes to its workflow version of that day, and walks
its steps; each step is picked round-robin in its role, may be transferred once, held once, or escalated when it
runs past its due time, and is approved (or, now and then, rejected). A task still inside its life at ``now`` is
open at the step it has reached, so open tasks are the recent ones, as in a real queue.
"""
from __future__ import annotations

import bisect
import hashlib
import math
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction

from auth_service.models import Role, System, User, UserSystemRole
from auth_service.selectors import role_snapshot, user_count, user_sync_snapshot
from messaging_service.models import Comment, TicketParticipant, TicketReplica
from notification_service.models import InAppNotification
from tts_common.base.datasets import dataset_mark
from tts_common.base.permissions import AGENT_DEFAULTS
from tts_common.models import AccountState
from workflow_api.models import (
    AgentAvailability,
    Assignment,
    AssignmentDecision,
    AuditEvent,
    ExternalAction,
    RoundRobinCursor,
    StepInstance,
    Task,
    TaskPause,
    Workflow,
)
from workflow_api.selectors.tasks import task_count
from workflow_api.services.replica import apply_role, apply_user_snapshots
from workflow_api.services.reports import rebuild_rollups
from workflow_api.services.workflows import (
    StepData,
    TransitionData,
    WorkflowData,
    workflow_create,
    workflow_deploy,
    workflow_new_version,
)

from .copy_writer import CopyTable, advance_sequence, bulk_load_session, next_ids, raw_json

GENERATOR = "history"  # its dataset marker (tts_common.base.datasets): only an empty or generated database is written
HISTORY_DAYS = 730
GENERATED_PASSWORD = "history-pass-123"  # every generated login's password (generated data only)
ROLE_MEMBERS = 20
COORDINATORS = "Ticket Coordinator"
ROLES = (
    "Service Desk", "Network Engineer", "Desktop Support", "Application Support", "Security Analyst",
    "Procurement Officer", "Budget Approver", "HR Partner", "Facilities Officer", COORDINATORS,
)  # fmt: skip
# (category, sub_category, steps as (name, role, SLA weight), share of tickets)
WORKFLOWS: tuple[tuple[str, str, tuple[tuple[str, str, int], ...], int], ...] = (
    ("IT Support", "Network", (("Triage", "Service Desk", 30), ("Fix", "Network Engineer", 70)), 14),
    ("IT Support", "VPN", (("Triage", "Service Desk", 30), ("Fix", "Network Engineer", 70)), 8),
    ("IT Support", "Laptop", (("Triage", "Service Desk", 30), ("Repair", "Desktop Support", 70)), 10),
    ("IT Support", "Printer", (("Repair", "Desktop Support", 100),), 6),
    ("IT Support", "Email", (("Triage", "Service Desk", 40), ("Fix", "Application Support", 60)), 7),
    ("IT Support", "Software Install", (("Install", "Desktop Support", 100),), 6),
    ("Applications", "ERP", (("Triage", "Service Desk", 20), ("Fix", "Application Support", 80)), 5),
    ("Applications", "CRM", (("Fix", "Application Support", 100),), 4),
    ("Applications", "Access Request", (("Review", "Security Analyst", 50), ("Grant", "Application Support", 50)), 6),
    ("Security", "Phishing", (("Investigate", "Security Analyst", 100),), 3),
    ("Security", "Lost Device", (("Lock", "Security Analyst", 40), ("Replace", "Desktop Support", 60)), 2),
    ("Procurement", "Equipment", (("Review", "Procurement Officer", 40), ("Budget Approval", "Budget Approver", 60)), 7),
    ("Procurement", "Software License", (("Review", "Procurement Officer", 50), ("Budget Approval", "Budget Approver", 50)), 3),
    ("Procurement", "Furniture", (("Review", "Procurement Officer", 40), ("Budget Approval", "Budget Approver", 30), ("Delivery", "Facilities Officer", 30)), 2),
    ("HR", "Payroll", (("Review", "HR Partner", 100),), 4),
    ("HR", "Onboarding", (("Accounts", "Service Desk", 30), ("Equipment", "Desktop Support", 40), ("Welcome", "HR Partner", 30)), 4),
    ("HR", "Leave", (("Review", "HR Partner", 100),), 3),
    ("Facilities", "Cleaning", (("Dispatch", "Facilities Officer", 100),), 2),
    ("Facilities", "Repairs", (("Dispatch", "Facilities Officer", 60), ("Inspect", "Facilities Officer", 40)), 2),
    ("Facilities", "Access Card", (("Review", "Security Analyst", 50), ("Issue", "Facilities Officer", 50)), 2),
)  # fmt: skip
SLA_HOURS = {"urgent": 4.0, "high": 8.0, "medium": 24.0, "low": 72.0}
PRIORITIES = (("urgent", 8), ("high", 22), ("medium", 40), ("low", 30))
_NOUNS = (
    "VPN", "laptop", "monitor", "printer", "mailbox", "password", "badge", "invoice", "license", "router", "switch",
    "firewall", "headset", "docking station", "keyboard", "payslip", "calendar", "shared drive", "Wi-Fi", "projector",
)  # fmt: skip
_PROBLEMS = ("is not working", "keeps failing", "needs replacing", "is very slow", "was lost", "requested",
             "stopped syncing", "shows an error", "cannot be reached", "needs access")  # fmt: skip
_WORDS = (
    "after the update", "since Monday", "on the third floor", "in meeting room B", "for the new hire", "urgently",
    "for the audit", "before the board meeting", "at the Cebu office", "at the Manila office", "for the sales team",
    "error 0x80070005", "after a power cut", "when docking", "over remote desktop", "with two-factor login",
)  # fmt: skip
_FIRST = ("Ana", "Ben", "Chen", "Dana", "Élodie", "Farid", "Grace", "Hiro", "Isabel", "Jomar", "Kai", "Lina")
_LAST = ("Santos", "Okafor", "Wei", "Kowalski", "Martin", "Haddad", "Reyes", "Tanaka", "Cruz", "Novak")
_DEPARTMENTS = ("Finance", "Engineering", "Sales", "Operations", "Human Resources", "Legal", "Marketing")
_COMMENTS = (
    "Looking into this now.", "Could you send a screenshot of the error?", "Restarted it remotely; please try again.",
    "Waiting on the vendor.", "Works for me now, thanks!", "Escalating to the next team.", "Parts ordered.",
    "Can we do this after 3pm?", "Done; please confirm.", "Still happening on my side.",
)  # fmt: skip


_EMPTY_LIST, _EMPTY_OBJECT = raw_json([]), raw_json({})


@dataclass(frozen=True)
class Ratios:
    """Per-task and per-step proportions of the generated history (stated in ``generate_history --help``)."""

    rejected_per_step: float = 0.04  # a step's decision is reject (the task ends rejected)
    transferred_per_step: float = 0.05  # the assignee hands the step to a colleague of the role
    held_per_task: float = 0.07  # one hold (the SLA clock stops) somewhere in the task's life
    escalated_when_late: float = 0.5  # a step past its due time is escalated (escalation role or owner)
    step_time_of_share: float = 0.35  # median time in a step, as a share of the step's part of the SLA
    stalled_per_step: float = 0.03  # a step that waits 10–60 times longer (the backlog's long tail)
    commented_per_task: float = 0.35  # tasks with a comment thread (1–4 comments by participants)
    read_notification: float = 0.9  # notifications read (older than a day)
    pending_when_open: float = 0.03  # open tasks waiting for an assignee (nobody eligible then)
    away_agents: float = 0.05  # agents away now
    rated_when_completed: float = 0.4  # completed tasks the requester rated (CSAT 1-5) in HDTS
    versions_per_workflow: tuple[int, int] = (1, 4)  # each workflow had this many versions over the two years


RATIOS = Ratios()


@dataclass
class Staff:
    """The generated people: role name -> member user ids (in user_id order), and the replica ids."""

    members: dict[str, list[int]]
    role_ids: dict[str, int]
    usernames: dict[int, str]
    admin_id: int


@dataclass
class WorkflowVersion:
    workflow_id: int
    deployed_from: datetime
    steps: list[tuple[int, str, Decimal, str]]  # (step id, role name, weight, external action)


@dataclass
class Lineage:
    category: str
    sub_category: str
    weight: int
    coordinator: str
    versions: list[WorkflowVersion] = field(default_factory=list)

    def version_at(self, moment: datetime) -> WorkflowVersion:
        starts = [v.deployed_from for v in self.versions]
        return self.versions[max(0, bisect.bisect_right(starts, moment) - 1)]


@dataclass(frozen=True)
class Summary:
    tasks: int
    rows: dict[str, int]


# --- Staff and workflows (through the services) -----------------------------------------------------------------
def create_staff(*, seed: int) -> Staff:
    """10 roles of 20 agents each (200 agents) and one admin, in the auth service and in workflow_api's replica.

    One password hash for every generated login (hashing 200 passwords would take a minute)."""
    password = make_password(GENERATED_PASSWORD)
    tts, _ = System.objects.get_or_create(code=settings.TTS_SYSTEM, defaults={"name": "Ticket Tracking System"})
    # Agents' roles, with what agents may do (their members act on their tasks through the API like anyone's).
    agents = {"permissions": list(AGENT_DEFAULTS)}
    roles = {name: Role.objects.get_or_create(system=tts, name=name, defaults=agents)[0] for name in ROLES}
    prefix = f"gen{seed}"
    users: list[User] = []
    admin = User.objects.filter(username=f"{prefix}-admin").first() or User.objects.create(
        username=f"{prefix}-admin", email=f"{prefix}-admin@example.com", password=password, is_staff=True
    )
    members: dict[str, list[int]] = {}
    for r, name in enumerate(ROLES):
        wanted = [f"{prefix}-{name.split()[0].lower()}{n:02d}" for n in range(1, ROLE_MEMBERS + 1)]
        existing = {u.username: u for u in User.objects.filter(username__in=wanted)}
        created = User.objects.bulk_create(
            [
                User(username=u, email=f"{u}@example.com", password=password, first_name=_FIRST[(r + i) % len(_FIRST)],
                     last_name=_LAST[i % len(_LAST)])
                for i, u in enumerate(wanted) if u not in existing
            ]
        )  # fmt: skip
        role_users = sorted([*existing.values(), *created], key=lambda u: u.pk)
        UserSystemRole.objects.bulk_create(
            [UserSystemRole(user=u, role=roles[name]) for u in role_users], ignore_conflicts=True
        )
        members[name] = [u.pk for u in role_users]
        users += role_users
    # Bulk-created users skip the auth service's save receiver: record their account state as it would.
    AccountState.objects.bulk_create(
        [AccountState(user_id=u.pk, is_active=True) for u in [*users, admin]], ignore_conflicts=True
    )
    for role in roles.values():
        apply_role(role_snapshot(role=role))
    apply_user_snapshots([user_sync_snapshot(user=u) for u in [*users, admin]])
    usernames = dict(User.objects.filter(pk__in=[u.pk for u in users]).values_list("pk", "username"))
    return Staff(members, {name: role.pk for name, role in roles.items()}, usernames, admin.pk)


def create_workflows(*, staff: Staff, start: datetime, rng: random.Random) -> list[Lineage]:
    """The 20 workflows, each deployed in 1–4 versions spread over the history (older versions archived)."""
    lineages: list[Lineage] = []
    low, high = RATIOS.versions_per_workflow
    for category, sub_category, steps, weight in WORKFLOWS:
        lineage = Lineage(category, sub_category, weight, COORDINATORS)
        existing = Workflow.objects.filter(category=category, sub_category=sub_category, department="")
        if existing.exists():  # generated before (another seed): tasks go to the versions already there
            for workflow in existing.order_by("version"):
                lineage.versions.append(_version(workflow, workflow.deployed_at or start))
            lineages.append(lineage)
            continue
        count = rng.randint(low, high)
        starts = [start] + sorted(start + timedelta(days=rng.uniform(30, HISTORY_DAYS - 30)) for _ in range(count - 1))
        workflow = workflow_create(actor=None, data=_definition(category, sub_category, steps, staff))
        for n, deployed_from in enumerate(starts):
            if n:
                workflow = workflow_new_version(workflow_id=workflow.pk, actor=None)
            workflow_deploy(workflow_id=workflow.pk, actor=None)
            Workflow.objects.filter(pk=workflow.pk).update(created_at=deployed_from, deployed_at=deployed_from)
            lineage.versions.append(_version(workflow, deployed_from))
        lineages.append(lineage)
    return lineages


def _version(workflow: Workflow, deployed_from: datetime) -> WorkflowVersion:
    steps = [
        (s.pk, s.role.name, s.sla_weight, s.external_action)
        for s in workflow.steps.select_related("role").order_by("order")
    ]
    return WorkflowVersion(workflow.pk, deployed_from, steps)


def _definition(category: str, sub_category: str, steps: tuple[tuple[str, str, int], ...], staff: Staff) -> WorkflowData:
    names = [name for name, _, _ in steps]
    transitions: list[TransitionData] = []
    for step, following in zip(names, [*names[1:], None], strict=True):
        transitions += [
            TransitionData(from_step=step, action="approve", to_step=following),
            TransitionData(from_step=step, action="reject", to_step=None),
        ]
    return WorkflowData(
        name=f"{category}: {sub_category}",
        description="Generated history.",
        category=category,
        sub_category=sub_category,
        coordinator_role_id=staff.role_ids[COORDINATORS],
        sla_hours=SLA_HOURS,
        steps=[
            StepData(
                name=name, order=i + 1, role_id=staff.role_ids[role], sla_weight=Decimal(weight),
                external_action=ExternalAction.BMS_BUDGET_CHECK if role == "Budget Approver" else "",
            )
            for i, (name, role, weight) in enumerate(steps)
        ],
        transitions=transitions,
    )


# --- Tasks (simulated, sent with COPY) ----------------------------------------------------------------------------
def _week_hours() -> list[float]:
    """Cumulative share of a week's tickets by hour (Monday 00:00 first): office hours on weekdays dominate."""
    weights = []
    for day in range(7):
        for hour in range(24):
            office = 8 <= hour < 18
            weights.append((6.0 if office else 0.6) * (1.0 if day < 5 else 0.25))
    total = sum(weights)
    cumulative, running = [], 0.0
    for weight in weights:
        running += weight / total
        cumulative.append(running)
    return cumulative


class _Writers:
    """The COPY buffers, and the next id of each table with a serial id."""

    MODELS = (
        Task, StepInstance, Assignment, AssignmentDecision, TaskPause, AuditEvent, InAppNotification, Comment,
        TicketReplica, TicketParticipant,
    )  # fmt: skip

    def __init__(self) -> None:
        self.tables = {model: CopyTable(model) for model in self.MODELS}
        self.ids = {model: next_ids(model) for model in self.MODELS if model not in (Task, TicketReplica)}
        self.totals = {model.__name__: 0 for model in self.MODELS}

    def next_id(self, model: type) -> int:
        row_id = self.ids[model]
        self.ids[model] += 1
        return row_id

    def add(self, model: type, row: dict[str, Any]) -> None:
        """Buffer ``row``, giving it the table's next id unless it took one already (a parent its children name)."""
        if model in self.ids and "id" not in row:
            row["id"] = self.next_id(model)
        self.tables[model].add(row)
        self.totals[model.__name__] += 1

    def flush(self) -> None:
        for table in self.tables.values():  # parents first (MODELS order): COPY checks foreign keys row by row
            table.flush()

    def finish(self) -> None:
        for model in self.ids:
            advance_sequence(model)


class HistorySimulator:
    def __init__(self, *, seed: int, now: datetime, staff: Staff, lineages: list[Lineage], writers: _Writers) -> None:
        self.seed, self.now, self.staff, self.lineages, self.w = seed, now, staff, lineages, writers
        self.start = now - timedelta(days=HISTORY_DAYS)
        self.week = _week_hours()
        self.lineage_weights = [lineage.weight for lineage in lineages]
        self.cursor = {name: -1 for name in staff.members}  # round-robin position per role
        self.sequence = {name: 0 for name in staff.members}
        self.last_pick: dict[str, int] = {}
        self.candidates = {name: raw_json(members) for name, members in staff.members.items()}

    # Round-robin over a role's members (user_id order), as the assignment engine does.
    def pick(self, role: str) -> tuple[int, int | None, int]:
        """The role's next user, the user picked before (None: the first pick) and the role's pick number."""
        members = self.staff.members[role]
        before = self.cursor[role]
        self.cursor[role] = (before + 1) % len(members)
        self.sequence[role] += 1
        user = members[self.cursor[role]]
        self.last_pick[role] = user
        return user, (members[before] if before >= 0 else None), self.sequence[role]

    def raised_at(self, i: int, total: int, rng: random.Random) -> datetime:
        """Tickets spread evenly over the weeks since the Monday before the history's start, each week's placed by
        the office-hours profile; the current week counts for the share of its profile that has passed."""
        base = (self.start - timedelta(days=self.start.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
        elapsed = self.now - base
        full_weeks = elapsed // timedelta(weeks=1)
        into_week = (elapsed - full_weeks * timedelta(weeks=1)) / timedelta(hours=1)
        hour_now = int(into_week)
        before = self.week[hour_now - 1] if hour_now else 0.0
        passed = before + (self.week[hour_now] - before) * (into_week - hour_now)
        position = (i + rng.random()) / total * (full_weeks + passed)
        week, within = int(position), position - int(position)
        hour = min(bisect.bisect_left(self.week, within), 167)
        moment = base + timedelta(weeks=week, hours=hour, minutes=rng.uniform(0, 60))
        return min(moment, self.now - timedelta(seconds=rng.uniform(30, 600)))

    def task(self, i: int, total: int) -> None:
        rng = random.Random(self.seed * 1_000_003 + i)
        created = self.raised_at(i, total, rng)
        lineage = rng.choices(self.lineages, weights=self.lineage_weights)[0]
        version = lineage.version_at(created)
        priority = rng.choices([p for p, _ in PRIORITIES], weights=[w for _, w in PRIORITIES])[0]
        sla = timedelta(hours=SLA_HOURS[priority])
        task_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        ticket_id = f"GEN{self.seed}-{i:07d}"
        noun, problem = rng.choice(_NOUNS), rng.choice(_PROBLEMS)
        title = f"{noun[0].upper()}{noun[1:]} {problem}"
        requester = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        description = f"{title} {rng.choice(_WORDS)}; reported by {requester}. Ticket {ticket_id} ({rng.choice(_WORDS)})."
        owner, *_ = self.pick(lineage.coordinator)
        life = _TaskLife(self, rng, task_id, ticket_id, created, sla, priority)
        life.event("task.created", created, None, {"workflow_id": version.workflow_id, "priority": priority})
        held = rng.random() < RATIOS.held_per_task
        hold_step = rng.randrange(len(version.steps)) if held else -1
        status = Task.Status.COMPLETED
        current_step = assigned = None
        clock = created
        for k, (step_id, role, weight, external) in enumerate(version.steps):
            step_sla = sla * float(weight) / 100
            outcome = life.step(step_id, role, clock, step_sla, hold=(k == hold_step),
                                escalation_role=lineage.coordinator, external=external)  # fmt: skip
            clock = outcome.ended_at or self.now
            if outcome.ended_at is None:  # still open at now
                status, current_step, assigned = outcome.open_status, step_id, outcome.holder
                break
            if outcome.rejected:
                status = Task.Status.REJECTED
                break
        completed_at = clock if status in (Task.Status.COMPLETED, Task.Status.REJECTED) else None
        if completed_at is not None:
            life.event(f"task.{status}", completed_at, None, {})
            life.notify(owner, "task_completed", completed_at, f"Task {status}: {title}")
        deadline = created + sla + life.paused
        end = completed_at or self.now
        breached_at = deadline if end > deadline else None
        open_ = completed_at is None
        next_warning_at = next_percent = warned_at = None
        for percent in (50, 75, 90):
            at = created + life.paused + sla * percent / 100
            if at <= end and at < deadline:
                warned_at = at
                life.event("task.sla_warning", at, None, {"threshold": percent, "notified_user": assigned or owner})
            elif open_ and breached_at is None and next_warning_at is None and status != Task.Status.ON_HOLD:
                next_warning_at, next_percent = at, percent
        if warned_at is not None and rng.random() < 0.7:
            life.notify(assigned or owner, "sla_warning", warned_at, f"SLA warning: {title}")
        if breached_at is not None:
            life.notify(assigned or owner, "sla_breach", breached_at, f"SLA breached: {title}")
            life.event("task.sla_breached", breached_at, None, {"assigned_user": assigned})
        # Drawn apart from the task's own stream, so that adding ratings changed no other row of a seed's history.
        rating = random.Random(self.seed * 7_919 + i)
        csat = None
        if status == Task.Status.COMPLETED and rating.random() < RATIOS.rated_when_completed:
            csat = rating.choices([1, 2, 3, 4, 5], weights=[1, 1, 3, 6, 5])[0]
        self.w.add(
            Task,
            {
                "task_id": task_id, "workflow_id": version.workflow_id, "external_ticket_id": ticket_id,
                "title": title, "description": description, "priority": priority, "status": status,
                "current_step_id": current_step, "assigned_user_id": assigned, "owner_id": owner,
                "ticket_data": {
                    "ticket_id": ticket_id, "title": title, "description": description,
                    "category": lineage.category, "sub_category": lineage.sub_category, "priority": priority,
                    "requester_name": requester, "department": rng.choice(_DEPARTMENTS),
                    "requester_email": requester.split()[0].lower().replace("é", "e") + f".{i}@example.com",
                    "created_at": created.isoformat(),
                },
                "ticket_created_at": created, "sla_deadline": deadline,
                "on_hold_since": life.on_hold_since, "sla_next_warning_at": next_warning_at,
                "sla_next_warning_percent": next_percent, "sla_warned_at": warned_at, "sla_breached_at": breached_at,
                "created_at": created, "updated_at": end, "completed_at": completed_at, "csat_rating": csat,
                **life.external_fields(status, assigned),
            },
        )  # fmt: skip
        life.flush_children()
        participants = list(dict.fromkeys([owner, *life.holders]))
        # messaging_service's copy of who may read the ticket's comments (as its sync consumer would have it).
        self.w.add(TicketReplica, {"ticket_id": ticket_id, "task_id": task_id})
        for user in participants:
            self.w.add(TicketParticipant, {
                "ticket_id": ticket_id, "user_id": user, "username": self.staff.usernames.get(user, ""),
            })  # fmt: skip
        if rng.random() < RATIOS.commented_per_task:
            life.comments(end, participants)


@dataclass
class _StepOutcome:
    ended_at: datetime | None
    rejected: bool = False
    holder: int | None = None
    open_status: str = Task.Status.IN_PROGRESS


class _TaskLife:
    """One task's trail, kept until the task is simulated to the end (an assignment's or a step's end is filled in
    after the row is made), then buffered for COPY."""

    def __init__(
        self, sim: HistorySimulator, rng: random.Random, task_id: uuid.UUID, ticket_id: str, created: datetime,
        sla: timedelta, priority: str,
    ) -> None:  # fmt: skip
        self.sim, self.rng, self.task_id, self.ticket_id, self.created = sim, rng, task_id, ticket_id, created
        self.sla, self.priority = sla, priority
        self.paused = timedelta(0)
        self.on_hold_since: datetime | None = None
        self.holders: list[int] = []
        self.rows: list[tuple[type, dict[str, Any]]] = []
        self.notices = 0

    def event(self, action: str, at: datetime, actor: int | None, data: dict[str, Any]) -> None:
        self.rows.append((AuditEvent, {
            "occurred_at": at, "actor_id": actor, "actor_username": self.sim.staff.usernames.get(actor, "") if actor else "",
            "action": action, "entity_type": "task", "entity_id": str(self.task_id), "ticket_id": self.ticket_id,
            "data": data,
        }))  # fmt: skip

    def notify(self, user: int, kind: str, at: datetime, subject: str) -> None:
        self.notices += 1
        read = at < self.sim.now - timedelta(days=1) and self.rng.random() < RATIOS.read_notification
        key = hashlib.md5(f"{self.task_id}:{self.notices}".encode()).hexdigest()
        self.rows.append((InAppNotification, {
            "user_id": user, "notification_type": kind, "subject": subject[:255], "message": subject,
            "related_task_id": str(self.task_id), "related_ticket_id": self.ticket_id, "metadata": _EMPTY_OBJECT,
            "is_read": read, "read_at": at + timedelta(minutes=self.rng.uniform(1, 600)) if read else None,
            "created_at": at, "dedup_key": key,
        }))  # fmt: skip

    def assign(self, step_instance: int, role: str, at: datetime, reason: str, user: int | None = None,
               by: int | None = None) -> int:  # fmt: skip
        sim = self.sim
        if user is None:
            user, before, sequence = sim.pick(role)
            self.rows.append((AssignmentDecision, {
                "role_id": sim.staff.role_ids[role], "sequence": sequence, "task_id": self.task_id,
                "step_instance_id": step_instance, "strategy": "round_robin", "policy": "hold",
                "candidates": sim.candidates[role], "filters": _EMPTY_LIST, "detail": _EMPTY_OBJECT,
                "cursor_before": before, "cursor_after": user, "user_id": user, "outcome": "assigned",
                "reason": reason, "decided_at": at,
            }))  # fmt: skip
        self.holders.append(user)
        self.rows.append((Assignment, {
            "task_id": self.task_id, "step_instance_id": step_instance, "user_id": user,
            "role_id": sim.staff.role_ids[role], "reason": reason, "assigned_by_id": by, "assigned_at": at,
            "ended_at": None, "task_created_at": self.created,
        }))  # fmt: skip
        self.event("task.assigned", at, by, {"user_id": user, "reason": reason})
        kind = {"round_robin": "task_assignment", "transfer": "task_transfer_in", "escalation": "task_escalation"}
        self.notify(user, kind[reason], at, f"Task {self.ticket_id} assigned to you")
        return user

    def _end_assignment(self, at: datetime) -> datetime | None:
        """End the open assignment at ``at``; returns when it began (None: there was none)."""
        for model, row in reversed(self.rows):
            if model is Assignment and row["ended_at"] is None:
                row["ended_at"] = at
                return row["assigned_at"]
        return None

    def step(self, step_id: int, role: str, started: datetime, step_sla: timedelta, *, hold: bool,
             escalation_role: str, external: str) -> _StepOutcome:  # fmt: skip
        rng, now = self.rng, self.sim.now
        instance_id = self.sim.w.next_id(StepInstance)
        instance = {"id": instance_id, "task_id": self.task_id, "step_id": step_id, "status": "active",
                    "due_at": started + step_sla, "started_at": started, "ended_at": None, "acted_by_id": None,
                    "acted_assigned_at": None, "priority": None, "notes": ""}  # fmt: skip
        self.rows.append((StepInstance, instance))
        open_pending = started > now - timedelta(days=2) and rng.random() < RATIOS.pending_when_open
        holder = None if open_pending else self.assign(instance_id, role, started, "round_robin")
        work = step_sla * RATIOS.step_time_of_share * math.exp(rng.gauss(0, 0.7))
        if rng.random() < RATIOS.stalled_per_step:
            work *= rng.uniform(10, 60)
        ended = started + work
        if hold:
            hold_start = started + work * rng.uniform(0.1, 0.6)
            hold_length = timedelta(hours=rng.uniform(0.5, 72))
            if hold_start < now:
                resumed = hold_start + hold_length
                still = resumed > now
                self.rows.append((TaskPause, {
                    "task_id": self.task_id, "reason": "on_hold", "notes": "Waiting for the requester.",
                    "started_at": hold_start, "ended_at": None if still else resumed, "started_by_id": holder,
                    "ended_by_id": None if still else holder,
                }))  # fmt: skip
                self.event("task.held", hold_start, holder, {})
                if still:  # the stored deadline is a running clock's until the task is resumed
                    self.on_hold_since = hold_start
                else:
                    self.event("task.resumed", resumed, holder, {})
                    self.paused += hold_length
                ended += hold_length
        if holder is not None and rng.random() < RATIOS.transferred_per_step:
            at = started + (ended - started) * rng.uniform(0.05, 0.5)
            if at < now:
                colleagues = [u for u in self.sim.staff.members[role] if u != holder]
                self._end_assignment(at)
                self.event("task.transferred", at, holder, {"to_user": colleagues[0]})
                self.notify(holder, "task_transfer_out", at, f"Task {self.ticket_id} transferred")
                holder = self.assign(instance_id, role, at, "transfer", user=rng.choice(colleagues), by=holder)
        due = started + step_sla + (self.paused if hold else timedelta(0))
        if holder is not None and ended > due and due < now and rng.random() < RATIOS.escalated_when_late:
            self._end_assignment(due)
            self.event("task.escalated", due, None, {"reason": "sla_breach"})
            holder = self.assign(instance_id, escalation_role, due, "escalation")
        if ended > now or self.on_hold_since is not None:
            if self.on_hold_since:
                status = Task.Status.ON_HOLD
            elif holder is None:
                status = Task.Status.PENDING
            elif external and rng.random() < 0.5:  # approved by its holder; the outside system's answer awaited
                status = rng.choice([Task.Status.AWAITING_EXTERNAL, Task.Status.PENDING_EXTERNAL_APPROVAL])
            else:
                status = Task.Status.IN_PROGRESS
            return _StepOutcome(None, holder=holder, open_status=status)
        rejected = rng.random() < RATIOS.rejected_per_step
        # The holder acts: the assignment ended here is theirs (close_active_step's acted_assigned_at).
        instance.update(status="rejected" if rejected else "approved", ended_at=ended, acted_by_id=holder,
                        acted_assigned_at=self._end_assignment(ended), priority=self.priority)  # fmt: skip
        self.event("task.rejected" if rejected else "task.approved", ended, holder, {"step_id": step_id})
        return _StepOutcome(ended, rejected=rejected)

    def external_fields(self, status: str, approver: int | None) -> dict[str, Any]:
        if status not in Task.EXTERNAL_STATUSES:
            return {}
        return {
            "external_action": ExternalAction.BMS_BUDGET_CHECK, "external_attempt": 1,
            "external_requested_at": self.sim.now - timedelta(minutes=self.rng.uniform(1, 90)),
            "external_requested_by_id": approver,
            "external_requested_by_username": self.sim.staff.usernames.get(approver, "") if approver else "",
            "external_error": "BMS did not answer (timeout)" if status == Task.Status.PENDING_EXTERNAL_APPROVAL else "",
        }  # fmt: skip

    def flush_children(self) -> None:
        for model, row in self.rows:
            self.sim.w.add(model, row)
        self.rows.clear()

    def comments(self, end: datetime, participants: list[int]) -> None:
        for _ in range(self.rng.randint(1, 4)):
            author = self.rng.choice(participants)
            at = self.created + (end - self.created) * self.rng.random()
            self.sim.w.add(Comment, {
                "ticket_id": self.ticket_id, "author_id": author,
                "author_username": self.sim.staff.usernames.get(author, ""), "text": self.rng.choice(_COMMENTS),
                "created_at": at, "edited_at": None, "is_deleted": False,
            })  # fmt: skip


def finish_replicas(sim: HistorySimulator) -> None:
    """Round-robin pointers where the history left them; a few agents away now."""
    for role, user in sim.last_pick.items():
        role_id = sim.staff.role_ids[role]
        RoundRobinCursor.objects.update_or_create(
            role_id=role_id, defaults={"last_user_id": user, "sequence": sim.sequence[role]}
        )
    rng = random.Random(sim.seed)
    agents = [u for members in sim.staff.members.values() for u in members]
    for user in rng.sample(agents, int(len(agents) * RATIOS.away_agents)):
        AgentAvailability.objects.update_or_create(
            user_id=user, defaults={"status": "away", "reason": "Out of office", "updated_at": sim.now}
        )


def generate(*, tasks: int, seed: int, now: datetime | None = None, chunk: int = 5000,
             progress: Callable[[int], None] = lambda n: None) -> Summary:  # fmt: skip
    """Write ``tasks`` tasks of history (and their staff, workflows and trail), a transaction per chunk."""
    now = now or datetime.now(UTC)
    rng = random.Random(seed)
    with transaction.atomic():
        dataset_mark(generator=GENERATOR, existing_rows={"users": user_count(), "tasks": task_count()})
        staff = create_staff(seed=seed)
        lineages = create_workflows(staff=staff, start=now - timedelta(days=HISTORY_DAYS), rng=rng)
    if Task.objects.filter(external_ticket_id=f"GEN{seed}-{0:07d}").exists():
        raise ValueError(f"a history with seed {seed} is already in this database; use another --seed")
    writers = _Writers()
    sim = HistorySimulator(seed=seed, now=now, staff=staff, lineages=lineages, writers=writers)
    for first in range(0, tasks, chunk):
        with transaction.atomic():
            bulk_load_session()
            for i in range(first, min(first + chunk, tasks)):
                sim.task(i, tasks)
            writers.flush()
        progress(min(chunk, tasks - first))
    with transaction.atomic():
        writers.finish()
        finish_replicas(sim)
    rebuild_rollups()  # the reports' buckets, as the services would have kept them
    return Summary(tasks=tasks, rows=dict(writers.totals))
