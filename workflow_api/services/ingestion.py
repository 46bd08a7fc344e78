"""HDTS ticket intake (DESIGN §3): validate, match a workflow, create tasks set-based, keep the unmatched.

A batch of tickets becomes tasks in one transaction and a constant number of statements. Idempotency rests on the
unique ``Task.external_ticket_id``: known tickets are skipped, tasks are inserted with ON CONFLICT DO NOTHING, and
only rows actually inserted (recognised by their client-generated ids) are assigned and notified, so a redelivered
or resent ticket is a no-op, whichever worker sees it and whenever.
"""
from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Prefetch
from django.utils import timezone
from uuid6 import uuid7

from tts_common.base import hdts, hdts_deployed, signing
from tts_common.messaging import outbox
from workflow_api.models import (
    TICKET_ID_MAX_LENGTH,
    Assignment,
    AssignmentDecision,
    AuditEvent,
    ReportDelta,
    ReportEvent,
    RoundRobinCursor,
    StepInstance,
    Task,
    UnroutedTicket,
    Workflow,
    WorkflowStep,
)
from workflow_api.services import hdts_status, notify
from workflow_api.services.assignment import (
    OWNER,
    Decision,
    PickRule,
    decide_in_order,
    lock_cursors,
    report_unassigned,
)
from workflow_api.services.audit import audit_event, record_events
from workflow_api.services.deadlines import first_warning, task_deadline
from workflow_api.services.intake_lock import routing_lock
from workflow_api.services.steps import step_due_at

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=models.Model)

class InvalidTicket(Exception):
    """A ticket that can never be ingested; ``category`` is an ``IntegrationError.Category`` value."""

    def __init__(self, category: str, message: str) -> None:
        super().__init__(f"{category}: {message}")
        self.category = category


@dataclass(frozen=True, slots=True)
class IncomingTicket:
    """A valid HDTS ticket, as received."""

    ticket_id: str
    data: dict[str, Any]
    received_at: datetime

    @property
    def match_key(self) -> tuple[str, str, str]:
        return (self.data["category"], self.data["sub_category"], self.data.get("department") or "")

    @property
    def created_at(self) -> datetime:
        """When the SLA clock starts: the ticket's own time, else its receipt."""
        value = self.data.get("created_at")
        return hdts.parse_date_time(value) if value else self.received_at


def check_ticket(ticket_data: Any, *, deployed: bool = False) -> None:
    """Raise :class:`InvalidTicket` (category ``validation``) unless the ticket fits the HDTS schema and the store.
    ``deployed``: a ticket of the deployed HDTS mapped onto DESIGN §3 (its errors name HDTS's own fields)."""
    errors = hdts.ticket_field_errors(ticket_data, deployed=deployed)
    if errors:
        rename = hdts_deployed.source_field if deployed else str
        messages = [f"{rename(field)}: {message}" for field, field_messages in errors.items() for message in field_messages]
        if hdts_deployed.matches_neither(ticket_data):
            raise InvalidTicket("validation", hdts_deployed.neither_form_reason(ticket_data, messages))
        raise InvalidTicket("validation", "; ".join(messages))
    if len(ticket_data["ticket_id"]) > TICKET_ID_MAX_LENGTH:
        field = "ticket_number" if deployed else "ticket_id"
        raise InvalidTicket("validation", f"{field}: Ensure this field has no more than {TICKET_ID_MAX_LENGTH} characters.")


def parse_ticket(
    ticket_data: Any, signature: str | None = None, signed_at: str | int | None = None, *, received_at: datetime
) -> IncomingTicket:
    """Check a ticket message against the HDTS schema and, when a secret is set, its signature.

    A ticket of the deployed HDTS (:mod:`tts_common.base.hdts_deployed`) is mapped onto DESIGN §3 first. The signature,
    when a secret is set, is checked over the ticket *as received* in either form: that HDTS does not sign, so its
    messages are accepted only while ``HDTS_SIGNING_SECRET`` is unset (or if a signing relay signs them).

    No signature age limit here: a replayed message is harmless, ticket_id idempotency neutralises it.
    """
    checked = checked_ticket(ticket_data)
    if settings.HDTS_SIGNING_SECRET:
        try:
            signing.verify(settings.HDTS_SIGNING_SECRET, signature, signed_at, ticket_data)
        except signing.SignatureError as exc:
            raise InvalidTicket("signature", str(exc)) from exc
    return IncomingTicket(ticket_id=checked["ticket_id"], data=checked, received_at=received_at)


def checked_ticket(ticket_data: Any) -> dict[str, Any]:
    """The ticket in DESIGN §3's form, checked (:func:`check_ticket`): a ticket of the deployed HDTS mapped first
    (:mod:`tts_common.base.hdts_deployed`), one in DESIGN's form as it is."""
    deployed = hdts_deployed.is_deployed_form(ticket_data)
    if deployed:
        try:
            ticket_data = hdts_deployed.to_design(ticket_data)
        except hdts_deployed.DeployedTicketError as exc:
            raise InvalidTicket("validation", str(exc)) from exc
    check_ticket(ticket_data, deployed=deployed)
    ticket: dict[str, Any] = ticket_data  # it fits the schema: a JSON object
    return ticket


# --- Matching ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Route:
    workflow: Workflow
    first_step: WorkflowStep


def match_workflows(
    keys: Iterable[tuple[str, str, str]], *, in_place: Workflow | None = None
) -> dict[tuple[str, str, str], Route | None]:
    """The deployed workflow for each (category, sub_category, department): the one for exactly that department,
    else the one for any department (blank); None if neither exists (or it has no step).

    ``in_place`` (the impact replay): a workflow, its steps prefetched, taken as deployed in place of the workflow
    deployed for its match (normally its own deployed version), as deploying it would do.
    """
    keys = set(keys)
    if not keys:
        return {}
    steps = WorkflowStep.objects.select_related("role").order_by("order")
    workflows = Workflow.objects.filter(
        status=Workflow.Status.DEPLOYED,
        category__in={key[0] for key in keys},
        sub_category__in={key[1] for key in keys},
    ).select_related("coordinator_role", "calendar").prefetch_related(Prefetch("steps", queryset=steps))
    if in_place is not None:
        workflows = workflows.exclude(pk=in_place.pk).exclude(
            category=in_place.category, sub_category=in_place.sub_category, department=in_place.department
        )
    deployed = {}
    for workflow in [*workflows, *([in_place] if in_place is not None else [])]:
        first = next(iter(workflow.steps.all()), None)
        if first is not None:
            first.workflow = workflow  # enter_step reads step.workflow: share the instance, no extra query
            deployed[(workflow.category, workflow.sub_category, workflow.department)] = Route(workflow, first)
    return {
        key: (deployed.get(key) if key[2] else None) or deployed.get((key[0], key[1], "")) for key in keys
    }


# --- Ingestion ------------------------------------------------------------------------------------------------
def insert_new(objs: Sequence[M]) -> list[M]:
    """INSERT ... ON CONFLICT DO NOTHING; returns the objects actually inserted (their client-made pks exist)."""
    if not objs:
        return []
    model = type(objs[0])
    model._default_manager.bulk_create(objs, ignore_conflicts=True, batch_size=1000)
    inserted = set(model._default_manager.filter(pk__in=[obj.pk for obj in objs]).values_list("pk", flat=True))
    return [obj for obj in objs if obj.pk in inserted]


class DuplicateRace(Exception):
    """A ticket of the batch got its task from another transaction after the check: the batch rolls back and its
    messages are retried one by one (then the check sees the task). Transient by design."""


def _create_tasks(
    routed: Sequence[tuple[IncomingTicket, Route]], *, now: datetime, build: bool = True
) -> list[Task]:
    """New tasks for the tickets, on their first steps, owned and assigned round-robin; tickets that already
    have a task are skipped. Returns the tasks created (``build=False``: an empty list, and no Task instances are
    made at all: the queue consumer has no use for them).

    A batch costs a fixed handful of statements whatever its size: the pointers are locked, the
    known tickets read, the picks made in memory, and then tasks (inserted in their final state), step instances,
    assignments and audit rows are written by ONE statement (data-modifying CTEs over ``unnest``ed arrays), with
    no model instances on the way: Django's per-value preparation was most of a batch's cost.
    """
    if not routed:
        return []
    # Every pointer the batch needs, locked at once in role_id order. Any transaction creating a task for the same
    # ticket (same workflow, same roles) waits here, so the check below sees its task.
    cursors = lock_cursors(
        role_id for _, route in routed for role_id in (route.workflow.coordinator_role_id, route.first_step.role_id)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT external_ticket_id FROM {Task._meta.db_table} WHERE external_ticket_id = ANY(%s)",
            [[ticket.ticket_id for ticket, _ in routed]],
        )
        known = {row[0] for row in cursor.fetchall()}
    fresh = [(ticket, route) for ticket, route in routed if ticket.ticket_id not in known]
    if not fresh:
        return []
    # Timed after the pointers are locked, like the decisions: an assignment's time then falls between the
    # availability changes it saw and those it did not (services/availability.py).
    now = timezone.now()
    picks = _decide_batch(fresh, locked=cursors)
    json_of = _JsonMemo()
    priority_map = dict(hdts.PRIORITY_MAP)  # read once per batch (it reads settings)
    dues: dict[tuple[int, str], tuple[datetime, str]] = {}
    rows = _TaskRows()
    for (ticket, route), (decision, owner) in zip(fresh, picks, strict=True):
        workflow, step = route.workflow, route.first_step
        priority = priority_map[ticket.data["priority"]]
        due = dues.get((step.pk, priority))
        if due is None:
            due_at = step_due_at(step, priority, now=now)
            due = dues[(step.pk, priority)] = (due_at, due_at.isoformat())
        created_at = ticket.created_at
        warn_at, warn_percent = first_warning(workflow, priority, created_at)
        assignee = decision.user_id
        rows.add(
            task_id=str(uuid7()),
            workflow_id=workflow.pk,
            ticket_id=ticket.ticket_id,
            title=ticket.data["title"],
            description=ticket.data.get("description") or "",
            priority=priority,
            status=Task.Status.IN_PROGRESS if assignee else Task.Status.PENDING,
            step_id=step.pk,
            assigned=assignee,
            owner=owner.user_id,
            data=json.dumps(ticket.data),
            created=created_at,
            deadline=task_deadline(workflow, priority, created_at),
            warn_at=warn_at,
            warn_percent=warn_percent,
            due=due[0],
            role_id=step.role_id,
            step_name=step.name,
            due_iso=due[1],
            d_sequence=decision.sequence,
            d_strategy=decision.strategy,
            d_policy=decision.policy,
            d_candidates=json_of(decision.candidates),
            d_filters=json_of(decision.filters),
            d_detail=json.dumps(decision.detail),
            d_before=decision.cursor_before,
            d_after=decision.cursor_after,
            d_outcome=decision.outcome,
            d_at=decision.decided_at,
        )
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_TASKS_SQL, {**rows.columns, "now": now})
        inserted = cursor.fetchone()[0]
    if inserted != len(fresh):
        raise DuplicateRace(f"{len(fresh) - inserted} ticket(s) of the batch were ingested concurrently")
    columns = rows.columns
    step_of = {route.first_step.pk: route.first_step for _, route in fresh}
    waiting: dict[int, tuple[str, list[str]]] = {}
    notices = []
    for task_id, title, ticket_id, user_id, step_id in zip(
        columns["task_id"], columns["title"], columns["ticket_id"], columns["assigned"], columns["step_id"], strict=True
    ):
        role = step_of[step_id].role
        if user_id is None:
            waiting.setdefault(role.pk, (role.name, []))[1].append(task_id)
        else:
            notices.append((task_id, title, ticket_id, user_id, role.name))
    # One publish for the batch: its assignment notices and one message naming each new ticket's participants.
    participants = zip(columns["owner"], columns["assigned"], strict=True)
    outbox.publish(
        [
            *notify.assignment_row_messages(notices),
            *notify.participants_messages(zip(columns["ticket_id"], columns["task_id"], participants, strict=True)),
            *notify.ticket_owner_messages(zip(columns["ticket_id"], columns["owner"], strict=True)),
        ]
    )
    report_unassigned(waiting)
    if not build:
        return []
    return [
        Task(
            task_id=uuid.UUID(columns["task_id"][i]),
            workflow=route.workflow,
            external_ticket_id=ticket.ticket_id,
            title=columns["title"][i],
            description=columns["description"][i],
            priority=columns["priority"][i],
            status=columns["status"][i],
            current_step=route.first_step,
            assigned_user_id=columns["assigned"][i],
            owner_id=columns["owner"][i],
            ticket_data=ticket.data,
            ticket_created_at=columns["created"][i],
            sla_deadline=columns["deadline"][i],
            sla_next_warning_at=columns["warn_at"][i],
            sla_next_warning_percent=columns["warn_percent"][i],
            created_at=now,
            updated_at=now,
        )
        for i, (ticket, route) in enumerate(fresh)
    ]


def pick_keys(routes: Iterable[Route]) -> list[tuple[int, PickRule]]:
    """The picks tasks on these routes need, in order: per task its assignee (its first step's rule), then its owner
    (the coordinator role). Made in ticket order, so how tickets are split into batches changes no pick (the
    routing simulator relies on it)."""
    keys = []
    for route in routes:
        keys.append((route.first_step.role_id, PickRule.of(route.first_step)))
        keys.append((route.workflow.coordinator_role_id, OWNER))
    return keys


def _decide_batch(
    fresh: Sequence[tuple[IncomingTicket, Route]], *, locked: Mapping[int, RoundRobinCursor] | None = None
) -> list[tuple[Decision, Decision]]:
    """The batch's decisions, one call: per ticket (in order) its assignee's and its owner's."""
    made = iter(decide_in_order(pick_keys(route for _, route in fresh), locked=locked))
    return list(zip(made, made, strict=True))


class _JsonMemo:
    """JSON text of the lists a batch's decisions share (a role's candidates, its filters), encoded once each."""

    def __init__(self) -> None:
        self._texts: dict[int, tuple[object, str]] = {}

    def __call__(self, value: object) -> str:
        known = self._texts.get(id(value))
        if known is None or known[0] is not value:
            known = self._texts[id(value)] = (value, json.dumps(value))
        return known[1]


class _TaskRows:
    """Column arrays of the new tasks, in the order of :data:`_INSERT_TASKS_SQL`'s ``unnest``."""

    TYPES = {
        "task_id": "uuid", "workflow_id": "bigint", "ticket_id": "text", "title": "text", "description": "text",
        "priority": "text", "status": "text", "step_id": "bigint", "assigned": "bigint", "owner": "bigint",
        "data": "jsonb", "created": "timestamptz", "deadline": "timestamptz", "warn_at": "timestamptz",
        "warn_percent": "smallint", "due": "timestamptz",
        "role_id": "bigint", "step_name": "text", "due_iso": "text",
        "d_sequence": "bigint", "d_strategy": "text", "d_policy": "text", "d_candidates": "jsonb",
        "d_filters": "jsonb", "d_detail": "jsonb", "d_before": "bigint", "d_after": "bigint", "d_outcome": "text",
        "d_at": "timestamptz",
    }  # fmt: skip

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {name: [] for name in self.TYPES}

    def add(self, **values: Any) -> None:
        for name, value in values.items():
            self.columns[name].append(value)


def _insert_tasks_sql() -> str:
    """One statement: the tasks (ON CONFLICT DO NOTHING: a ticket ingested meanwhile is not inserted, and the
    count returned tells), then only for tasks actually inserted their step instances, assignment decisions,
    assignments (tasks with a user), ``task.created`` audit rows and the report deltas (created, assigned: see
    services/reports.py). Nullable columns not named here (SLA marks, completion) start NULL."""
    names = ", ".join(_TaskRows.TYPES)
    arrays = ", ".join(f"%({name})s::{kind}[]" for name, kind in _TaskRows.TYPES.items())
    task, step, decision, assignment, audit, delta = (
        model._meta.db_table for model in (Task, StepInstance, AssignmentDecision, Assignment, AuditEvent, ReportDelta)
    )
    return f"""
WITH i AS MATERIALIZED (SELECT * FROM unnest({arrays}) AS i({names})),
t AS (
    INSERT INTO {task} (task_id, workflow_id, external_ticket_id, title, description, priority, status,
                        current_step_id, assigned_user_id, owner_id, ticket_data, ticket_created_at, sla_deadline,
                        sla_next_warning_at, sla_next_warning_percent, created_at, updated_at)
    SELECT task_id, workflow_id, ticket_id, title, description, priority, status, step_id, assigned, owner, data,
           created, deadline, warn_at, warn_percent, %(now)s, %(now)s
    FROM i
    ON CONFLICT DO NOTHING
    RETURNING task_id
),
s AS (
    INSERT INTO {step} (task_id, step_id, status, due_at, started_at, notes)
    SELECT i.task_id, i.step_id, '{StepInstance.Status.ACTIVE}', i.due, %(now)s, '' FROM t JOIN i USING (task_id)
    RETURNING id, task_id
),
d AS (
    INSERT INTO {decision} (task_id, step_instance_id, role_id, sequence, strategy, policy, candidates, filters,
                            detail, cursor_before, cursor_after, user_id, outcome, reason, decided_at)
    SELECT i.task_id, s.id, i.role_id, i.d_sequence, i.d_strategy, i.d_policy, i.d_candidates, i.d_filters,
           i.d_detail, i.d_before, i.d_after, i.assigned, i.d_outcome, '{Assignment.Reason.ROUND_ROBIN}', i.d_at
    FROM s JOIN i USING (task_id)
),
a AS (
    INSERT INTO {assignment} (task_id, step_instance_id, user_id, role_id, reason, assigned_at, task_created_at)
    SELECT i.task_id, s.id, i.assigned, i.role_id, '{Assignment.Reason.ROUND_ROBIN}', %(now)s, %(now)s
    FROM s JOIN i USING (task_id) WHERE i.assigned IS NOT NULL
),
e AS (
    INSERT INTO {audit} (occurred_at, actor_id, actor_username, action, entity_type, entity_id, ticket_id, data)
    SELECT %(now)s, NULL, '', 'task.created', 'task', i.task_id::text, i.ticket_id,
           jsonb_build_object('workflow_id', i.workflow_id, 'priority', i.priority, 'owner_id', i.owner,
                              'step_id', i.step_id, 'step', i.step_name, 'due_at', i.due_iso,
                              'assigned_user_id', i.assigned)
    FROM t JOIN i USING (task_id)
),
r AS (
    INSERT INTO {delta} (occurred_at, kind, workflow_id, step_id, user_id, priority, count, total)
    SELECT %(now)s, k.kind, i.workflow_id, i.step_id, k.user_id, i.priority, 1, 0
    FROM t JOIN i USING (task_id)
    CROSS JOIN LATERAL (VALUES ('{ReportEvent.CREATED}', NULL::bigint),
        (CASE WHEN i.assigned IS NOT NULL THEN '{ReportEvent.ASSIGNED}' END, i.assigned)) k(kind, user_id)
    WHERE k.kind IS NOT NULL
)
SELECT count(*) FROM t"""


_INSERT_TASKS_SQL = _insert_tasks_sql()


def _keep_unrouted(tickets: Sequence[IncomingTicket], *, now: datetime) -> None:
    """Store tickets no workflow matches (once each) and tell the admins about the new ones."""
    # A redelivered ticket may have been routed earlier (to a workflow since archived): it is not unrouted.
    has_task = set(
        Task.objects.filter(external_ticket_id__in=[t.ticket_id for t in tickets]).values_list(
            "external_ticket_id", flat=True
        )
    )
    rows = [
        UnroutedTicket(
            ticket_id=ticket.ticket_id,
            category=ticket.match_key[0],
            sub_category=ticket.match_key[1],
            department=ticket.match_key[2],
            payload=ticket.data,
            received_at=now,
        )
        for ticket in tickets
        if ticket.ticket_id not in has_task
    ]
    new = insert_new(rows)
    if not new:
        return
    admins = notify.admin_user_ids()
    events = []
    for row in new:
        notify.notify_users(
            admins,
            "unrouted_ticket",
            f"Unrouted ticket {row.ticket_id}",
            f"No deployed workflow matches category {row.category!r}, sub-category {row.sub_category!r}"
            + (f", department {row.department!r}" if row.department else "")
            + "; the ticket waits until one is deployed.",
            ticket_id=row.ticket_id,
            metadata={"category": row.category, "sub_category": row.sub_category, "department": row.department},
        )
        events.append(
            audit_event(
                "ticket.unrouted",
                entity_type="ticket",
                entity_id=row.ticket_id,
                ticket_id=row.ticket_id,
                data={"category": row.category, "sub_category": row.sub_category, "department": row.department},
                at=now,
            )
        )
    record_events(events)
    logger.warning("unrouted tickets kept", extra={"operation": "ingest", "count": len(new)})


@transaction.atomic
def ingest_tickets(tickets: Sequence[IncomingTicket], *, return_tasks: bool = True) -> list[Task]:
    """Turn tickets into tasks (or unrouted tickets); returns the tasks created (none for known tickets; none at
    all with ``return_tasks=False``, which spares the queue consumer building instances it does not use)."""
    now = timezone.now()
    routing_lock(exclusive=False)
    unique = list({ticket.ticket_id: ticket for ticket in tickets}.values())  # a batch may hold a resend
    routes = match_workflows(ticket.match_key for ticket in unique)
    routed = [(ticket, route) for ticket in unique if (route := routes[ticket.match_key]) is not None]
    unrouted = [ticket for ticket in unique if routes[ticket.match_key] is None]
    created = _create_tasks(routed, now=now, build=return_tasks)
    if unrouted:
        _keep_unrouted(unrouted, now=now)
    hdts_status.apply_pending(ticket.ticket_id for ticket, _ in routed)  # statuses that overtook their tickets
    return created


def route_unrouted_tickets(workflow: Workflow) -> int:
    """Create tasks for the unrouted tickets the (just deployed) ``workflow`` matches; returns how many.

    Runs in the caller's (deploy) transaction.
    """
    routing_lock(exclusive=True)
    pending = UnroutedTicket.objects.select_for_update().filter(
        routed_at__isnull=True, category=workflow.category, sub_category=workflow.sub_category
    )
    if workflow.department:
        pending = pending.filter(department=workflow.department)
    rows = list(pending.order_by("received_at", "ticket_id"))
    if not rows:
        return 0
    now = timezone.now()
    tickets = [IncomingTicket(ticket_id=row.ticket_id, data=row.payload, received_at=row.received_at) for row in rows]
    routes = match_workflows(ticket.match_key for ticket in tickets)
    _create_tasks([(t, route) for t in tickets if (route := routes[t.match_key]) is not None], now=now)
    task_of = dict(
        Task.objects.filter(external_ticket_id__in=[row.ticket_id for row in rows]).values_list(
            "external_ticket_id", "task_id"
        )
    )
    routed = [row for row in rows if row.ticket_id in task_of]
    for row in routed:
        row.routed_at = now
        row.task_id = task_of[row.ticket_id]
    UnroutedTicket.objects.bulk_update(routed, ["routed_at", "task"], batch_size=500)
    hdts_status.apply_pending(row.ticket_id for row in routed)
    record_events(
        [
            audit_event(
                "ticket.routed",
                entity_type="ticket",
                entity_id=row.ticket_id,
                ticket_id=row.ticket_id,
                data={"workflow_id": workflow.pk, "task_id": str(row.task_id)},
                at=now,
            )
            for row in routed
        ]
    )
    return len(routed)
