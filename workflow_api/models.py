"""The workflow engine's own tables: role replicas, workflow definitions, tasks and their history, audit."""
from __future__ import annotations

import uuid
from functools import cached_property

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import F, Func, Q, Value
from django.db.models.functions import NullIf
from uuid6 import uuid7

from workflow_api.business_time import Schedule


class Priority(models.TextChoices):
    """Internal priorities (HDTS priorities map onto these; DESIGN §3)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


def priority_rank() -> models.Case:
    """A task's priority as a number, low (0) to urgent (3): what lists sort by, and the expression of the index
    that serves that sort (the planner matches the two only if they are the same expression). Never null (keyset
    paging can then bound its scan by the rank)."""
    return models.Case(
        *(models.When(priority=priority, then=models.Value(rank)) for rank, priority in enumerate(Priority.values)),
        default=models.Value(len(Priority.values)),
        output_field=models.IntegerField(),
    )


# Full-text search (built into PostgreSQL: the embedded pgserver has no pg_trgm) with English stemming; ticket ids
# are kept whole as tokens ("HD-2026-0042") and split into their parts too.
SEARCH_CONFIG = "english"


def task_search_vector() -> SearchVector:
    """What a task list's ``?q=`` searches: ticket id, title and description as one document (Task.search_document,
    which the GIN index task_search_document serves)."""
    return SearchVector("external_ticket_id", "title", "description", config=SEARCH_CONFIG)


# --- Replicas of the auth service's roles and users, kept by the role sync consumers ---------------------------
class RoleReplica(models.Model):
    role_id = models.BigIntegerField(primary_key=True)  # the auth service's id
    system = models.CharField(max_length=32)
    name = models.CharField(max_length=100)
    permissions = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)
    # Version of the last applied `workflow.role.send`; 0 = known only from a user snapshot so far.
    version = models.BigIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["system", "name"])]

    def __str__(self) -> str:
        return f"{self.system}:{self.name}"


class UserReplica(models.Model):
    user_id = models.BigIntegerField(primary_key=True)  # the auth service's id
    username = models.CharField(max_length=150)
    email = models.CharField(max_length=254, blank=True)
    is_active = models.BooleanField(default=True)
    version = models.BigIntegerField(default=0)  # of the last applied `workflow.role.sync` snapshot

    def __str__(self) -> str:
        return self.username

    @property
    def current_availability(self) -> AgentAvailability:
        """The user's availability; never set: an unsaved default (active, no window, never updated)."""
        try:
            return self.availability
        except AgentAvailability.DoesNotExist:
            return AgentAvailability(user=self, updated_at=None)  # type: ignore[misc]  # unsaved: never updated


class UserRole(models.Model):
    """A user's membership of a role, as of the user's latest snapshot."""

    user = models.ForeignKey(UserReplica, on_delete=models.CASCADE, related_name="roles", db_index=False)  # userrole_unique
    role = models.ForeignKey(RoleReplica, on_delete=models.CASCADE, related_name="members")
    assigned_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "role"], name="userrole_unique")]


class RoundRobinCursor(models.Model):
    """The persisted round-robin pointer of one role; rows are locked (SELECT ... FOR UPDATE) while assigning."""

    role = models.OneToOneField(RoleReplica, on_delete=models.CASCADE, primary_key=True)
    last_user_id = models.BigIntegerField(null=True)  # the last user picked, in user_id order
    # Picks made so far for the role: each AssignmentDecision carries its number, which orders a role's decisions.
    sequence = models.BigIntegerField(default=0)


class AgentAvailability(models.Model):
    """Whether a user takes new work (no row: active). Owned here, not synced: availability is an assignment concern.

    Away: keeps the tasks held, gets no new ones. Unavailable: also hands the open tasks back (re-assigned per each
    step's policy). An out-of-office window makes an active user away for its duration (a null bound is open).
    """

    class Status(models.TextChoices):
        ACTIVE = "active"
        AWAY = "away"
        UNAVAILABLE = "unavailable"

    user = models.OneToOneField(UserReplica, on_delete=models.CASCADE, primary_key=True, related_name="availability")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    away_from = models.DateTimeField(null=True, blank=True)
    away_until = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    # At most this many open tasks from new picks (null: no cap); a user at the cap is filtered out like an away one.
    max_open_tasks = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField()
    updated_by_id = models.BigIntegerField(null=True, blank=True)  # null = the engine


class RoleSettings(models.Model):
    """Assignment settings of a role owned by the workflow engine: its lead takes the tasks of steps whose
    no-eligible policy is ``escalate_to_lead``."""

    role = models.OneToOneField(RoleReplica, on_delete=models.CASCADE, primary_key=True, related_name="settings")
    lead_user = models.ForeignKey(UserReplica, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    updated_at = models.DateTimeField()


# --- Workflow definitions ----------------------------------------------------------------------------------------
# The task list's sla_state shows "warning" once 1/SLA_WARNING_DIVISOR of the SLA is left (75 % used), hold time
# excluded; the monitor warns at each of the workflow's sla_warning_thresholds.
SLA_WARNING_DIVISOR = 4
DEFAULT_SLA_WARNING_THRESHOLDS = (50, 75, 90)


def default_sla_warning_thresholds() -> list[int]:
    return list(DEFAULT_SLA_WARNING_THRESHOLDS)


class BusinessCalendar(models.Model):
    """When SLA clocks run: working hours per weekday (local wall-clock times in ``time_zone``), minus holidays.

    ``weekly_hours``: ``{"mon": [["09:00", "17:00"]], ...}``, a weekday left out is closed; ``holidays``: ISO dates.
    """

    name = models.CharField(max_length=100, unique=True)
    time_zone = models.CharField(max_length=64)  # IANA, e.g. Asia/Manila
    weekly_hours = models.JSONField()
    holidays = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @cached_property
    def schedule(self) -> Schedule:
        return Schedule.build(self.time_zone, self.weekly_hours, self.holidays)


class Workflow(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        DEPLOYED = "deployed"
        ARCHIVED = "archived"

    # All versions of one workflow share a lineage; a task keeps the exact version it started on.
    lineage = models.UUIDField(default=uuid.uuid4)  # indexed by workflow_unique_version
    version = models.PositiveIntegerField(default=1)
    # Moves on by one at each save (apart from ``version``, which counts deployable versions): a save made on an
    # older revision is refused (409), so two admins editing one draft never overwrite each other silently.
    revision = models.PositiveIntegerField(default=1)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=100)
    # Blank: tickets without a sub-category (the deployed HDTS's null, matched as empty).
    sub_category = models.CharField(max_length=100, blank=True)
    department = models.CharField(max_length=100, blank=True)  # blank = any department
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    coordinator_role = models.ForeignKey(RoleReplica, on_delete=models.PROTECT, related_name="+")
    # Who takes over a task that breaches its SLA (round-robin); null = the coordinator (the task's owner, else the
    # coordinator role round-robin), as for a manual escalation without an escalate transition.
    escalation_role = models.ForeignKey(RoleReplica, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # SLA per internal priority.
    sla_low = models.DurationField()
    sla_medium = models.DurationField()
    sla_high = models.DurationField()
    sla_urgent = models.DurationField()
    # Null: the SLA clock runs round the clock. May change on a deployed workflow: open tasks are recomputed.
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT, null=True, blank=True, related_name="workflows")
    # Percents of the SLA at which the assignee is warned, ascending; each warning is sent once per task.
    sla_warning_thresholds = models.JSONField(default=default_sla_warning_thresholds)
    created_by_id = models.BigIntegerField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    deployed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lineage", "version"], name="workflow_unique_version"),
            # At most one deployed workflow answers a (category, sub_category, department).
            models.UniqueConstraint(
                fields=["category", "sub_category", "department"],
                condition=Q(status="deployed"),
                name="workflow_one_deployed_per_match",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class AssignmentStrategy(models.TextChoices):
    ROUND_ROBIN = "round_robin"  # the next eligible user after the role's pointer
    LEAST_LOADED = "least_loaded"  # the eligible user with the fewest open tasks, ties by round-robin


class NoEligiblePolicy(models.TextChoices):
    """What a step does when no user of its role is eligible; always explicit, never a silent fallback."""

    HOLD = "hold"  # the task stays pending, admins are told
    ESCALATE_TO_LEAD = "escalate_to_lead"  # the role's lead (RoleSettings) takes it
    LEAST_LOADED_AWAY = "least_loaded_away"  # the away user (not unavailable) with the fewest open tasks


class ExternalAction(models.TextChoices):
    """An outside system a step's approval depends on (services/external.py): the assignee approves, then the
    system decides."""

    NONE = "", "None"
    AMS_RESERVE = "ams_reserve", "AMS asset reservation"
    BMS_BUDGET_CHECK = "bms_budget_check", "BMS budget check"


class WorkflowStep(models.Model):
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="steps", db_index=False)  # step_unique_*
    name = models.CharField(max_length=100)
    order = models.PositiveIntegerField()  # the first step is the lowest order
    role = models.ForeignKey(RoleReplica, on_delete=models.PROTECT, related_name="+")
    # Share of the task's SLA (percent) this step gets; a workflow's weights sum to 100.
    sla_weight = models.DecimalField(max_digits=5, decimal_places=2)
    assignment_strategy = models.CharField(
        max_length=16, choices=AssignmentStrategy.choices, default=AssignmentStrategy.ROUND_ROBIN
    )
    no_eligible_policy = models.CharField(max_length=20, choices=NoEligiblePolicy.choices, default=NoEligiblePolicy.HOLD)
    external_action = models.CharField(max_length=32, choices=ExternalAction.choices, default="", blank=True)

    class Meta:
        ordering = ["order"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "order"], name="step_unique_order"),
            models.UniqueConstraint(fields=["workflow", "name"], name="step_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class WorkflowTransition(models.Model):
    """From a step, an action leads to another step, or ends the task (``to_step`` null)."""

    class Action(models.TextChoices):
        APPROVE = "approve"
        REJECT = "reject"
        ESCALATE = "escalate"

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="transitions")
    # Indexed by transition_unique_action.
    from_step = models.ForeignKey(WorkflowStep, on_delete=models.CASCADE, related_name="transitions", db_index=False)
    action = models.CharField(max_length=16, choices=Action.choices)
    to_step = models.ForeignKey(WorkflowStep, on_delete=models.CASCADE, null=True, blank=True, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["from_step", "action"], name="transition_unique_action")]


# --- Tasks ---------------------------------------------------------------------------------------------------------
# The task statuses the SLA monitor warns and breaches (services/sla.py): someone can act on the task. Plain strings:
# the partial indexes below name them.
SLA_RUNNING_STATUSES = ("pending", "in_progress", "awaiting_asset_selection")

# The longest HDTS ticket id a task takes (intake refuses longer ones rather than cut them).
TICKET_ID_MAX_LENGTH = 100


class Task(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"  # waiting for an assignee (no active user in the step's role)
        IN_PROGRESS = "in_progress"
        ON_HOLD = "on_hold"
        # The assignee approved a step with an external action; the outside system's decision is being fetched.
        AWAITING_EXTERNAL = "awaiting_external"
        # The outside system could not decide (outage, open circuit, not configured): retried, or an admin decides.
        PENDING_EXTERNAL_APPROVAL = "pending_external_approval"
        # AMS could not reserve the asset (it offered alternatives), or the ticket names none: the assignee or an
        # admin picks an asset on the task page and the reservation is asked again. The SLA clock keeps running.
        AWAITING_ASSET_SELECTION = "awaiting_asset_selection"
        COMPLETED = "completed"
        REJECTED = "rejected"
        # HDTS withdrew the ticket (its requester did): terminal, like completed and rejected.
        CANCELLED = "cancelled"

    OPEN_STATUSES = (
        Status.PENDING, Status.IN_PROGRESS, Status.ON_HOLD, Status.AWAITING_EXTERNAL, Status.PENDING_EXTERNAL_APPROVAL,
        Status.AWAITING_ASSET_SELECTION,
    )  # fmt: skip
    EXTERNAL_STATUSES = (Status.AWAITING_EXTERNAL, Status.PENDING_EXTERNAL_APPROVAL)
    SLA_RUNNING_STATUSES = SLA_RUNNING_STATUSES

    # Time-ordered (UUID version 7): a new task's key lands beside the last one in the primary key and in every
    # index on a task_id (assignments, step instances, decisions, ...), on pages already in memory. A random key
    # (version 4) writes a random leaf of each, and after every checkpoint a full-page image of it in the WAL: 50,000
    # rows into a 2,000,000-row table with three uuid indexes took 5.3 s and 253 MB of WAL with random keys, 1.5 s
    # and 49 MB time-ordered (bench/README.md, intake at 1M).
    task_id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workflow = models.ForeignKey(Workflow, on_delete=models.PROTECT, related_name="tasks")
    # The HDTS ticket id; unique, so a redelivered ticket can never make a second task.
    external_ticket_id = models.CharField(max_length=TICKET_ID_MAX_LENGTH, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    priority = models.CharField(max_length=16, choices=Priority.choices)
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.PENDING)
    current_step = models.ForeignKey(WorkflowStep, on_delete=models.PROTECT, null=True, related_name="+")
    # assigned_user and owner: indexed by the composite indexes below that start with them.
    assigned_user = models.ForeignKey(
        UserReplica, on_delete=models.PROTECT, null=True, blank=True, related_name="assigned_tasks", db_index=False
    )
    # The coordinator who owns the task from intake to the end.
    owner = models.ForeignKey(
        UserReplica, on_delete=models.PROTECT, null=True, blank=True, related_name="owned_tasks", db_index=False
    )
    ticket_data = models.JSONField()  # the HDTS ticket as received (requester, attachments, ...)
    ticket_created_at = models.DateTimeField()  # the SLA clock starts here
    # When the SLA's business time, pauses excluded, runs out (services/deadlines.py); recomputed from the pause log
    # on resume and when the workflow's calendar changes.
    sla_deadline = models.DateTimeField()
    on_hold_since = models.DateTimeField(null=True, blank=True)
    # The next pre-breach warning: at sla_next_warning_at, sla_next_warning_percent % of the SLA has run (null: no
    # warning left). The SLA monitor (services/sla.py) claims it in one UPDATE that moves it to the following
    # threshold, so each is sent once; sla_warned_at is when the latest was sent.
    sla_next_warning_at = models.DateTimeField(null=True, blank=True)
    sla_next_warning_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    sla_warned_at = models.DateTimeField(null=True, blank=True)
    # Set once by the SLA monitor, in the UPDATE that claims the breach.
    sla_breached_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # The latest external check (services/external.py): requested when the step's assignee approved; each request
    # (and each retry) gets the next attempt number, and only the job of the current attempt may apply a decision.
    # Database defaults too: intake inserts tasks with raw SQL naming only the columns it sets.
    external_action = models.CharField(
        max_length=32, choices=ExternalAction.choices, default="", db_default="", blank=True
    )
    external_attempt = models.PositiveIntegerField(default=0, db_default=0)
    external_requested_at = models.DateTimeField(null=True, blank=True)
    external_requested_by_id = models.BigIntegerField(null=True, blank=True)  # the approver the decision awaits
    external_requested_by_username = models.CharField(max_length=150, blank=True, default="", db_default="")
    # The approver's notes, kept for the step's history when the decision comes.
    external_notes = models.TextField(blank=True, default="", db_default="")
    # AMS reservation id / BMS approval id.
    external_reference = models.CharField(max_length=100, blank=True, default="", db_default="")
    # Why the outside system (or an admin) rejected it.
    external_reason = models.TextField(blank=True, default="", db_default="")
    # Why it could not decide (pending external approval), or why an asset must be chosen (AMS's error).
    external_error = models.TextField(blank=True, default="", db_default="")
    # AMS's answer to the latest reservation, as it came: {reservation_id, status, asset_id, valid_until,
    # asset_details: {name, model, serial}}.
    ams_reservation = models.JSONField(null=True, blank=True)
    # The assets AMS offered instead of the one it could not reserve (awaiting asset selection).
    asset_alternatives = models.JSONField(null=True, blank=True)
    # The asset (and days) chosen on the task page; they take the place of the ticket's asset_id / duration_days.
    selected_asset_id = models.CharField(max_length=255, blank=True, default="", db_default="")
    selected_duration_days = models.PositiveIntegerField(null=True, blank=True)
    # BMS's answer to the latest budget check, every field as it came (approved or rejected).
    bms_answer = models.JSONField(null=True, blank=True)
    # The requester's satisfaction rating (1-5) and feedback, sent by HDTS when it closed the ticket.
    csat_rating = models.PositiveSmallIntegerField(null=True, blank=True)
    csat_feedback = models.CharField(max_length=255, blank=True, default="", db_default="")
    # What ``?q=`` searches, stored: computed by PostgreSQL in the statement that writes the row (a generated column,
    # no trigger: intake's INSERT, the ORM, generate_history's COPY alike), so a list can check it row by row without
    # parsing the text again, as walking task_created newest first or an agent's tasks does.
    search_document = models.GeneratedField(
        expression=task_search_vector(), output_field=SearchVectorField(), db_persist=True
    )

    class Meta:
        indexes = [
            models.Index(fields=["assigned_user", "status"]),
            models.Index(fields=["owner", "status"]),
            # A user's owned tasks newest first: with assignment_user_created, the two ordered scans a user's task
            # list merges (selectors.tasks).
            models.Index(fields=["owner", "created_at", "task_id"], name="task_owner_created"),
            models.Index(fields=["status", "priority"]),
            # The list's orderings (selectors.tasks, filters.TaskFilter), each tie-broken by task_id.
            models.Index(fields=["created_at", "task_id"], name="task_created"),
            models.Index(fields=["sla_deadline", "task_id"], name="task_deadline"),
            models.Index(priority_rank(), models.F("task_id"), name="task_priority"),
            models.Index(fields=["sla_deadline"], condition=Q(status__in=SLA_RUNNING_STATUSES), name="task_open_sla"),
            # The list's day filters (filters.TaskFilter: a report's drill-down) on when a task closed or breached.
            models.Index(fields=["completed_at"], condition=Q(completed_at__isnull=False), name="task_closed"),
            models.Index(fields=["sla_breached_at"], condition=Q(sla_breached_at__isnull=False), name="task_breached"),
            # What the SLA monitor still has to look at, by deadline: it scans only these (tasks on hold are out:
            # their clock is stopped), so a scan's cost follows what is due, not how many tasks are open.
            models.Index(
                fields=["sla_next_warning_at"],
                condition=Q(
                    status__in=SLA_RUNNING_STATUSES, sla_next_warning_at__isnull=False, sla_breached_at__isnull=True
                ),
                name="task_sla_next_warning",
            ),
            models.Index(
                fields=["sla_deadline"],
                condition=Q(status__in=SLA_RUNNING_STATUSES, sla_breached_at__isnull=True),
                name="task_sla_unbreached",
            ),
            GinIndex(fields=["search_document"], name="task_search_document"),
        ]

    def __str__(self) -> str:
        return f"{self.external_ticket_id}: {self.title}"


class SavedTaskView(models.Model):
    """A user's named task list: its filters, search and ordering, as the task list's query parameters."""

    owner_id = models.BigIntegerField()  # the auth service's user id (the views are the caller's own, by token)
    name = models.CharField(max_length=100)
    query = models.JSONField()  # {q, status, priority, sla_state, mine, ordering}: serializers.SavedViewQuery
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner_id", "name"], name="saved_view_owner_name")]
        ordering = ["name", "id"]


class TaskPause(models.Model):
    """A stretch of time the task's SLA clock stood still, and why: the log deadlines are recomputed from."""

    class Reason(models.TextChoices):
        ON_HOLD = "on_hold"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="pauses", db_index=False)  # (task, started_at)
    reason = models.CharField(max_length=32, choices=Reason.choices)
    notes = models.TextField(blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)  # null: still paused
    started_by_id = models.BigIntegerField(null=True, blank=True)  # null = the engine
    ended_by_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["started_at", "id"]
        indexes = [models.Index(fields=["task", "started_at"])]
        constraints = [
            models.UniqueConstraint(fields=["task"], condition=Q(ended_at__isnull=True), name="one_open_pause_per_task")
        ]


def _epoch_seconds(end: str, start: str) -> Func:
    """Seconds from ``start`` to ``end`` as float8 (date_part: extract gives numeric, several times slower to sort)."""
    return Func(Value("epoch"), F(end) - F(start), function="date_part", output_field=models.FloatField())


class StepInstance(models.Model):
    """One visit of a task to a step, with its own due time (the step's share of the SLA)."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        APPROVED = "approved"
        REJECTED = "rejected"
        ESCALATED = "escalated"
        # Ended because HDTS closed (``closed``) or withdrew (``cancelled``) the ticket on its side.
        CLOSED = "closed"
        CANCELLED = "cancelled"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="step_instances")
    step = models.ForeignKey(WorkflowStep, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    due_at = models.DateTimeField()
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    acted_by_id = models.BigIntegerField(null=True, blank=True)
    # When the assignment the action ended began: the actor's assignment ended with the visit (the latest, were there
    # several), set in the statement that ends the visit; null when none (no actor, or one who did not hold the
    # task). The agents report's time to action is ended_at minus it, read from the visits' index with no join.
    acted_assigned_at = models.DateTimeField(null=True, blank=True)
    # The task's priority, copied when the visit ends (null while open; intake sets a task's priority, nothing changes
    # it): the reports' priority filter on visits reads it from the visits' index, not the task of each visit.
    priority = models.CharField(max_length=16, choices=Priority.choices, null=True, blank=True)
    notes = models.TextField(blank=True)
    # The steps report's figures of a closed visit (null while open), computed by PostgreSQL in the statement that
    # writes the row: the seconds spent in the step, and the share of its due time they are (null when due at its
    # start). Stored so that the report's medians sort values read from an index, with no per-visit arithmetic.
    seconds_spent = models.GeneratedField(
        expression=_epoch_seconds("ended_at", "started_at"), output_field=models.FloatField(), db_persist=True
    )
    due_used = models.GeneratedField(
        expression=_epoch_seconds("ended_at", "started_at") / NullIf(_epoch_seconds("due_at", "started_at"), Value(0.0)),
        output_field=models.FloatField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["started_at", "id"]
        # The step-time medians of the reports (selectors.reports) read the visits that ended in a range, from the
        # index only (the columns they read included).
        indexes = [
            models.Index(
                fields=["ended_at"],
                include=["step_id", "acted_by_id", "acted_assigned_at", "priority", "seconds_spent", "due_used"],
                condition=Q(ended_at__isnull=False),
                name="step_instance_ended_visit",
            ),
            # The steps report's visits, per step in step order (one descent per step): grouped as read, with no
            # sort of the range's visits by step before each step's own sort for its median and p90.
            models.Index(
                fields=["step_id", "ended_at"],
                include=["acted_by_id", "acted_assigned_at", "priority", "seconds_spent", "due_used"],
                condition=Q(ended_at__isnull=False),
                name="step_instance_step_ended",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["task"], condition=Q(status="active"), name="one_active_step_per_task")
        ]


class Assignment(models.Model):
    """Who held a task, when and why: the assignment history."""

    class Reason(models.TextChoices):
        ROUND_ROBIN = "round_robin"
        TRANSFER = "transfer"
        ESCALATION = "escalation"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="assignments")
    step_instance = models.ForeignKey(StepInstance, on_delete=models.CASCADE, related_name="assignments")
    # Indexed by assignment_user_created.
    user = models.ForeignKey(UserReplica, on_delete=models.PROTECT, related_name="assignments", db_index=False)
    role = models.ForeignKey(RoleReplica, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=16, choices=Reason.choices, default=Reason.ROUND_ROBIN)
    assigned_by_id = models.BigIntegerField(null=True, blank=True)  # null = the engine
    assigned_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    # The task's created_at, copied when the row is written: the task list's default ordering (newest first), so a
    # user's list reads the tasks they held in that order from assignment_user_created, a page at a time, instead of
    # every task they ever held (selectors.tasks). A task's created_at never changes.
    task_created_at = models.DateTimeField()

    class Meta:
        ordering = ["assigned_at", "id"]
        indexes = [
            # The tasks a user held, newest first, read from the index alone (the task list's visibility).
            models.Index(fields=["user", "task_created_at", "task"], name="assignment_user_created"),
        ]
        constraints = [
            # No task is ever held by two users at once.
            models.UniqueConstraint(fields=["task"], condition=Q(ended_at__isnull=True), name="one_open_assignment")
        ]


class AssignmentDecision(models.Model):
    """Why a task got its assignee (or none): the candidates, what each filter removed, the strategy and policy,
    the role's pointer before and after, the choice. Written in the transaction that applies it."""

    class Strategy(models.TextChoices):
        ROUND_ROBIN = AssignmentStrategy.ROUND_ROBIN
        LEAST_LOADED = AssignmentStrategy.LEAST_LOADED
        DIRECT = "direct"  # a person or a rule named the user (transfer, escalation to the owner)

    class Outcome(models.TextChoices):
        ASSIGNED = "assigned"  # picked by the strategy among the eligible
        HELD = "held"  # nobody eligible (or the policy's target missing): pending, admins told
        ESCALATED_TO_LEAD = "escalated_to_lead"
        LEAST_LOADED_AWAY = "least_loaded_away"
        DIRECT = "direct"

    # role and task: indexed by the composite indexes below that start with them.
    role = models.ForeignKey(RoleReplica, on_delete=models.PROTECT, related_name="+", db_index=False)
    sequence = models.BigIntegerField(null=True, blank=True)  # the role's pick number; null for direct choices
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="decisions", db_index=False)
    step_instance = models.ForeignKey(StepInstance, on_delete=models.CASCADE, related_name="+")
    strategy = models.CharField(max_length=16, choices=Strategy.choices)
    policy = models.CharField(max_length=20, choices=NoEligiblePolicy.choices, blank=True)
    candidates = models.JSONField(default=list)  # the role's users, in user_id (round-robin) order
    filters = models.JSONField(default=list)  # [{"filter": role|active|unavailable|away|capacity, "removed": [ids]}]
    detail = models.JSONField(default=dict)  # what else the choice used: open-task loads, the lead
    cursor_before = models.BigIntegerField(null=True, blank=True)
    cursor_after = models.BigIntegerField(null=True, blank=True)
    user_id = models.BigIntegerField(null=True, blank=True)  # the choice; null = held
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    reason = models.CharField(max_length=16, choices=Assignment.Reason.choices, default=Assignment.Reason.ROUND_ROBIN)
    decided_at = models.DateTimeField()

    class Meta:
        ordering = ["decided_at", "id"]
        indexes = [models.Index(fields=["role", "sequence"]), models.Index(fields=["task", "decided_at"])]


class AuditEvent(models.Model):
    """Append-only record of what happened; ids are plain values (no FKs) so events outlive what they name."""

    occurred_at = models.DateTimeField(db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True)  # null = the engine
    actor_username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)  # e.g. task.created, task.approved, workflow.deployed
    entity_type = models.CharField(max_length=32)
    entity_id = models.CharField(max_length=64)
    ticket_id = models.CharField(max_length=100, blank=True, db_index=True)
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["entity_type", "entity_id"])]


# --- Intake bookkeeping ----------------------------------------------------------------------------------------
class UnroutedTicket(models.Model):
    """A valid ticket no deployed workflow matched: kept (never dropped) until a matching workflow is deployed."""

    # Generated client-side, like Task's, so a bulk INSERT ... ON CONFLICT DO NOTHING can tell which rows it made.
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    ticket_id = models.CharField(max_length=100, unique=True)
    category = models.CharField(max_length=255)
    sub_category = models.CharField(max_length=255)
    department = models.CharField(max_length=255, blank=True)
    payload = models.JSONField()  # the HDTS ticket as received
    received_at = models.DateTimeField()
    routed_at = models.DateTimeField(null=True, blank=True)
    task = models.OneToOneField(Task, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        indexes = [
            models.Index(
                fields=["category", "sub_category"], condition=Q(routed_at__isnull=True), name="unrouted_open"
            )
        ]

    def __str__(self) -> str:
        return self.ticket_id


class PendingHdtsStatus(models.Model):
    """A Closed/Withdrawn status the deployed HDTS sent for a ticket that has no task yet (the status overtook its
    ticket, or the ticket is unrouted): applied when the ticket becomes a task. One per ticket: the latest received."""

    ticket_id = models.CharField(max_length=255, primary_key=True)
    status = models.CharField(max_length=16)
    payload = models.JSONField()  # the status message's payload as received (csat_rating, feedback, ...)
    received_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.ticket_id}: {self.status}"


class IntegrationError(models.Model):
    """A message from another system that could not be ingested (also dead-lettered), for admins to act on."""

    class Category(models.TextChoices):
        VALIDATION = "validation"  # fails the HDTS schema
        SIGNATURE = "signature"  # missing or wrong signature
        PROCESSING = "processing"  # valid, but processing kept failing (retries exhausted)

    class Status(models.TextChoices):
        PENDING = "pending"  # awaiting an admin
        RETRYING = "retrying"
        RESOLVED = "resolved"
        ESCALATED = "escalated"  # retries exhausted

    category = models.CharField(max_length=16, choices=Category.choices)
    source = models.CharField(max_length=100)  # the queue the message came from
    ticket_id = models.CharField(max_length=255, blank=True, db_index=True)  # when the payload names one
    message = models.TextField()
    payload = models.JSONField()  # the message's kwargs as received
    retry_count = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "category"])]

    def __str__(self) -> str:
        return f"{self.category}: {self.message[:60]}"


class IntegrationHealth(models.Model):
    """How calls to one outside system (AMS, BMS) went, deployment-wide: each call updates its row with one UPDATE.

    The circuit state is the one the last caller's process saw (breakers live in each worker process)."""

    name = models.CharField(max_length=16, primary_key=True)  # services.integrations.Integration
    calls = models.PositiveBigIntegerField(default=0)
    errors = models.PositiveBigIntegerField(default=0)
    last_called_at = models.DateTimeField(null=True, blank=True)
    last_ok = models.BooleanField(null=True)  # the last call's outcome (a rejection is a successful call)
    last_latency_ms = models.FloatField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    circuit_state = models.CharField(max_length=16, default="closed")  # closed | open | half_open
    circuit_open_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class DeadLetterNotice(models.Model):
    """One grouped notice to the admins about the dead letters stored since the previous one (at most one per
    ``DEAD_LETTER_NOTICE_INTERVAL_SECONDS``): each letter belongs to exactly one notice, so the counts of all notices
    add up to the letters stored, whatever the drains' concurrency or redeliveries (services/dead_letters.py)."""

    created_at = models.DateTimeField(db_index=True)
    count = models.PositiveIntegerField()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.count} dead letters, told at {self.created_at:%Y-%m-%d %H:%M:%S}"


class DeadLetter(models.Model):
    """A message taken from ``TICKET_TASKS_PRODUCTION_DLQ`` (services/dead_letters.py) for admins to inspect, then
    reprocess or discard: a table can be listed, paged and updated, which a queue cannot."""

    class Status(models.TextChoices):
        PENDING = "pending"  # awaiting an admin
        REPROCESSED = "reprocessed"  # republished to its queue (maybe corrected)
        DISCARDED = "discarded"

    # The broker's message id, else a hash of the body: a redelivered dead letter is stored once.
    message_key = models.CharField(max_length=64, unique=True)
    source_queue = models.CharField(max_length=100, blank=True)
    task_name = models.CharField(max_length=200, blank=True)
    reason = models.TextField(blank=True)
    kwargs = models.JSONField(default=dict)  # the original message's kwargs (ticket_data, signature, signed_at)
    retries = models.PositiveIntegerField(default=0)
    ticket_id = models.CharField(max_length=255, blank=True, db_index=True)  # when the payload names one
    raw = models.TextField(blank=True)  # the body, when it is not a dead letter of ours (nothing else could be read)
    dead_lettered_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # The give-up record the consumer wrote for the same message (best effort there, so it may be missing).
    integration_error = models.OneToOneField(
        IntegrationError, on_delete=models.SET_NULL, null=True, blank=True, related_name="dead_letter"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by_id = models.BigIntegerField(null=True, blank=True)  # null = the command line
    resolution_note = models.TextField(blank=True)
    # The notice that told the admins about it; null until then.
    notice = models.ForeignKey(DeadLetterNotice, on_delete=models.PROTECT, null=True, blank=True, related_name="letters")

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["status", "received_at"]),
            models.Index(fields=["id"], condition=models.Q(notice__isnull=True), name="dead_letter_untold"),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id or self.message_key[:12]}: {self.reason[:60]}"


# --- Report rollups (services/reports.py) -------------------------------------------------------------------------
class ReportEvent(models.TextChoices):
    """What the rollups count. Each kind's definition over the raw rows is :data:`services.reports.RAW_EVENTS_SQL`,
    which the writers follow and ``manage.py reports_check`` compares against."""

    CREATED = "created"  # a task was made (step: its first step)
    ASSIGNED = "assigned"  # a user started holding a task at a step
    TRANSFERRED = "transferred"  # ... by a transfer
    ESCALATED = "escalated"  # ... by an escalation (by hand or on breach), or a step left by its escalate transition
    REASSIGNED_AWAY = "reassigned_away"  # a user stopped holding a task whose step went on (user: who lost it)
    ACTED = "acted"  # a user closed a step (approved, rejected, escalated)
    COMPLETED = "completed"  # a task ended completed (step: its last; user: its holder then)
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    WITHIN_SLA = "within_sla"  # a task ended completed or rejected by its deadline
    BREACHED = "breached"  # a task passed its deadline (step and user: where it was then)
    WARNED = "warned"  # an SLA warning was sent (user: its recipient)
    RATED = "rated"  # a CSAT rating (count 1, total: the rating; dims as the task's end)


class ReportDelta(models.Model):
    """Append-only: written in the transactions that change tasks, so rollups never disagree with them, and never
    updated (no row for concurrent intake batches to fight over). ``fold_report_deltas`` moves them into buckets."""

    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField()
    kind = models.CharField(max_length=16, choices=ReportEvent.choices)
    workflow_id = models.BigIntegerField()
    step_id = models.BigIntegerField(null=True)
    user_id = models.BigIntegerField(null=True)
    priority = models.CharField(max_length=16)
    count = models.IntegerField(default=1)
    total = models.IntegerField(default=0)  # summed with count (CSAT ratings)


class _ReportRollup(models.Model):
    """What every rollup of the report deltas sums, by kind, workflow, step and priority."""

    kind = models.CharField(max_length=16, choices=ReportEvent.choices)
    workflow_id = models.BigIntegerField()
    step_id = models.BigIntegerField(null=True)
    priority = models.CharField(max_length=16)
    count = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)

    class Meta:
        abstract = True


class ReportBucket(_ReportRollup):
    """Deltas summed per 15 minutes (UTC-aligned, so any time zone's day is a whole number of buckets)."""

    bucket = models.DateTimeField()
    user_id = models.BigIntegerField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["bucket", "kind", "workflow_id", "step_id", "user_id", "priority"],
                name="report_bucket_key",
                nulls_distinct=False,
            )
        ]
        # An agent's figures (filter or scope) read their own rows only.
        indexes = [models.Index(fields=["user_id", "bucket"], name="report_bucket_user")]


HALF_HOURS_A_DAY = 48


class ReportDayHalfHours(_ReportRollup):
    """The buckets summed per UTC day without the user (``count``, ``total``: the day's), with running sums at its
    half hours' ends: ``counts[i]`` (1-based, as PostgreSQL's arrays; i < 48) is the count from the day's start to the
    end of its i-th half hour. So any run of whole half hours of one day, [a, b), is one row per key:
    ``coalesce(counts[b], count) - coalesce(counts[a], 0)`` (out of range, ``counts[48]`` and ``counts[0]`` are NULL):
    a local day outside UTC (offsets of a whole or half hour start on one) costs a row per key of each of the two UTC
    days it spans, not one per half hour; whole days are read from the index alone (count and total included).
    ``totals`` likewise for the totals, NULL when they are all 0 (every kind but ``rated``). Folded with the
    buckets, in the same statement.

    int4 running sums: a key's events in one UTC day stay far below 2**31 (an overflow would fail the fold, not
    wrap)."""

    day = models.DateField()  # UTC
    counts = ArrayField(models.IntegerField(), size=HALF_HOURS_A_DAY - 1)
    totals = ArrayField(models.IntegerField(), size=HALF_HOURS_A_DAY - 1, null=True)

    class Meta:
        constraints = [
            # Kind first: a report reads only the kinds it shows.
            models.UniqueConstraint(
                fields=["kind", "day", "workflow_id", "step_id", "priority"],
                include=["count", "total"],  # whole days read from the index only
                name="report_day_half_hours_key",
                nulls_distinct=False,
            )
        ]


class ReportUserDay(_ReportRollup):
    """The buckets summed per UTC day and user (those without a user included; at 1M generated tasks, 57 % of the
    buckets' rows): whole UTC days of a report grouped by agent are read here. Folded with the buckets, in the same
    statement."""

    day = models.DateField()  # UTC
    user_id = models.BigIntegerField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "day", "user_id", "workflow_id", "step_id", "priority"],
                include=["count", "total"],  # read from the index only
                name="report_user_day_key",
                nulls_distinct=False,
            )
        ]
        indexes = [
            # A role's (or a role lead's) figures by agent: its steps' rows alone, read from the index (the key
            # above reads every step's rows of the range and drops the others). Written by the fold job only.
            models.Index(
                fields=["step_id", "kind", "day"],
                include=["user_id", "workflow_id", "priority", "count", "total"],
                name="report_user_day_step",
            )
        ]
