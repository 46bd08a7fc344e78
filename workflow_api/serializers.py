"""Request and response shapes of the workflow API. Input serializers only check shapes and types; the rules live
in the services. Output serializers read what the selectors loaded (no queries of their own)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from tts_common.base.hdts import MAX_DURATION_DAYS
from tts_common.http.serializer_fields import DirectReads
from workflow_api.business_time import WEEKDAYS
from workflow_api.models import (
    DEFAULT_SLA_WARNING_THRESHOLDS,
    AgentAvailability,
    Assignment,
    AssignmentDecision,
    AssignmentStrategy,
    AuditEvent,
    BusinessCalendar,
    DeadLetter,
    ExternalAction,
    IntegrationError,
    NoEligiblePolicy,
    Priority,
    SavedTaskView,
    StepInstance,
    Task,
    TaskPause,
    UnroutedTicket,
    UserReplica,
    Workflow,
    WorkflowStep,
    WorkflowTransition,
)
from workflow_api.selectors.impact import IMPACT_MAX_TICKETS
from workflow_api.selectors.reports import AGE_BUCKETS, GROUPS, THROUGHPUT_KINDS
from workflow_api.selectors.tasks import SEARCH_MAX_LENGTH, SlaState
from workflow_api.selectors.workflows import WORKFLOW_DOCUMENT_FORMAT, sla_hours
from workflow_api.services.actions import BULK_ACTIONS, BULK_LIMIT, TaskAction
from workflow_api.services.assignment import FILTERS


# --- Workflows -----------------------------------------------------------------------------------------------------
class SlaHoursSerializer(serializers.Serializer):
    """Hours from the ticket's creation to its deadline, per internal priority (fractions allowed: 0.5 = 30 min)."""

    low = serializers.FloatField(min_value=1 / 60, max_value=24 * 366)
    medium = serializers.FloatField(min_value=1 / 60, max_value=24 * 366)
    high = serializers.FloatField(min_value=1 / 60, max_value=24 * 366)
    urgent = serializers.FloatField(min_value=1 / 60, max_value=24 * 366)


class WarningThresholdsField(serializers.ListField):
    """Percents of the SLA, ascending and distinct, each 1–99."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=serializers.IntegerField(min_value=1, max_value=99), max_length=10, **kwargs)

    def to_internal_value(self, data: Any) -> list[int]:
        values = super().to_internal_value(data)
        if values != sorted(set(values)):
            raise serializers.ValidationError("Thresholds must be ascending and distinct.")
        return values


class StepInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    order = serializers.IntegerField(min_value=0, max_value=2**31 - 1)
    role_id = serializers.IntegerField()
    sla_weight = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=Decimal(0), max_value=Decimal(100), help_text="Percent of the SLA."
    )
    assignment_strategy = serializers.ChoiceField(
        choices=AssignmentStrategy.choices,
        default=AssignmentStrategy.ROUND_ROBIN,
        help_text="least_loaded: the eligible user with the fewest open tasks, ties by round-robin.",
    )
    no_eligible_policy = serializers.ChoiceField(
        choices=NoEligiblePolicy.choices,
        default=NoEligiblePolicy.HOLD,
        help_text="When nobody is eligible: hold (pending, admins told), escalate_to_lead (the role's lead, which "
        "deploy requires), least_loaded_away (the away user with the fewest open tasks).",
    )
    external_action = serializers.ChoiceField(
        choices=ExternalAction.choices,
        allow_blank=True,
        default="",
        help_text="An outside system the step's approval waits on: ams_reserve (AMS asset reservation), "
        "bms_budget_check (BMS budget check); blank: none.",
    )


class TransitionInputSerializer(serializers.Serializer):
    from_step = serializers.CharField(max_length=100, help_text="Name of a step of this workflow.")
    action = serializers.ChoiceField(choices=WorkflowTransition.Action.choices)
    to_step = serializers.CharField(
        max_length=100,
        allow_null=True,
        default=None,
        help_text="Name of a step; null ends the task (approve: completed, reject: rejected).",
    )


class PatchableSerializer(serializers.Serializer):
    """``patch=True``: any subset of the top-level keys, each still validated in full (DRF's partial=True would
    also let nested items miss required keys), and no defaults for the keys left out."""

    def __init__(self, *args: Any, patch: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if patch:
            for field in self.fields.values():
                field.required = False
                field.default = empty


class WorkflowInputSerializer(PatchableSerializer):
    """A draft workflow. PATCH may send any subset of the keys; ``steps`` replaces the whole graph, so it needs
    ``transitions`` too."""

    name = serializers.CharField(max_length=200)
    description = serializers.CharField(allow_blank=True, default="")
    category = serializers.CharField(max_length=100)
    sub_category = serializers.CharField(
        max_length=100,
        allow_blank=True,
        help_text="Blank matches tickets without one (the deployed HDTS sends none outside IT Support).",
    )
    department = serializers.CharField(
        max_length=100, allow_blank=True, default="", help_text="Blank matches tickets of any department."
    )
    coordinator_role_id = serializers.IntegerField()
    escalation_role_id = serializers.IntegerField(
        allow_null=True,
        default=None,
        help_text="Who takes over tasks that breach their SLA (round-robin); null: the task's coordinator.",
    )
    sla_hours = SlaHoursSerializer()
    calendar_id = serializers.IntegerField(
        allow_null=True,
        default=None,
        help_text="Business calendar the SLA clock runs on (GET /calendars/); null: round the clock. May change on "
        "a deployed workflow: open tasks' deadlines are recomputed.",
    )
    sla_warning_thresholds = WarningThresholdsField(
        default=list(DEFAULT_SLA_WARNING_THRESHOLDS),
        help_text="Percents of the SLA at which the assignee is warned, once each. May change on a deployed workflow.",
    )
    steps = StepInputSerializer(many=True)
    transitions = TransitionInputSerializer(many=True, default=list)
    revision = serializers.IntegerField(
        required=False,
        write_only=True,
        help_text="The draft's revision this edit was made on (GET gives it): if another save came first, the answer "
        "is 409 with the current revision, and nothing is saved.",
    )


class ProblemSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="The input field it is about.")
    message = serializers.CharField()
    step = serializers.CharField(allow_null=True, help_text="The step (its name) it is about, if any.")
    action = serializers.CharField(allow_null=True, help_text="With step: the transition (that step's action).")


class WorkflowCheckSerializer(serializers.Serializer):
    valid = serializers.BooleanField(help_text="True: the definition can be saved and deployed as it is.")
    problems = ProblemSerializer(many=True)
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), help_text="The problems per field, as a 400 gives them."
    )


class StepDocumentSerializer(StepInputSerializer):
    role_id = None
    role = serializers.CharField(max_length=100, help_text="The role's name.")


class WorkflowDocumentSerializer(WorkflowInputSerializer):
    """A workflow as exported (GET /workflows/{id}/export/) and imported (POST /workflows/import/)."""

    format = serializers.ChoiceField(choices=[WORKFLOW_DOCUMENT_FORMAT])
    coordinator_role_id = None
    escalation_role_id = None
    calendar_id = None
    revision = None
    coordinator_role = serializers.CharField(max_length=100, help_text="The role's name.")
    escalation_role = serializers.CharField(max_length=100, allow_null=True, default=None)
    calendar = serializers.CharField(max_length=100, allow_null=True, default=None, help_text="The calendar's name.")
    steps = StepDocumentSerializer(many=True)


class StepSerializer(serializers.ModelSerializer):
    role_name = serializers.CharField(source="role.name", read_only=True)

    class Meta:
        model = WorkflowStep
        fields = [
            "id", "name", "order", "role_id", "role_name", "sla_weight", "assignment_strategy", "no_eligible_policy",
            "external_action",
        ]  # fmt: skip


class TransitionSerializer(serializers.ModelSerializer):
    from_step = serializers.CharField(source="from_step.name")
    to_step = serializers.CharField(source="to_step.name", allow_null=True, default=None)

    class Meta:
        model = WorkflowTransition
        fields = ["id", "from_step", "action", "to_step"]


class WorkflowSerializer(serializers.ModelSerializer):
    coordinator_role_name = serializers.CharField(source="coordinator_role.name", read_only=True)
    escalation_role_name = serializers.CharField(
        source="escalation_role.name", read_only=True, allow_null=True, default=None
    )
    sla_hours = serializers.SerializerMethodField()
    calendar_name = serializers.CharField(source="calendar.name", read_only=True, allow_null=True, default=None)
    sla_warning_thresholds = serializers.ListField(child=serializers.IntegerField(), read_only=True)
    steps = StepSerializer(many=True, read_only=True)
    transitions = TransitionSerializer(many=True, read_only=True)

    class Meta:
        model = Workflow
        fields = [
            "id", "lineage", "version", "revision", "name", "description", "category", "sub_category", "department", "status",
            "coordinator_role_id", "coordinator_role_name", "escalation_role_id", "escalation_role_name", "sla_hours", "calendar_id", "calendar_name", "sla_warning_thresholds",
            "steps", "transitions", "created_by_id",
            "created_at", "deployed_at",
        ]  # fmt: skip

    @extend_schema_field(SlaHoursSerializer)
    def get_sla_hours(self, workflow: Workflow) -> dict[str, float]:
        return sla_hours(workflow)


# --- Calendars -----------------------------------------------------------------------------------------------------
class CalendarInputSerializer(PatchableSerializer):
    """A business calendar; PATCH may send any subset of the keys."""

    name = serializers.CharField(max_length=100)
    time_zone = serializers.CharField(max_length=64, help_text="IANA time zone, e.g. Asia/Manila.")
    weekly_hours = serializers.DictField(
        child=serializers.ListField(
            child=serializers.ListField(child=serializers.CharField(max_length=5), min_length=2, max_length=2),
            max_length=24,
        ),
        help_text=f"Working windows per weekday ({', '.join(WEEKDAYS)}) as [start, end] local HH:MM times "
        '("24:00" ends at midnight), e.g. {"mon": [["09:00", "17:00"]]}; a weekday left out is closed.',
    )
    holidays = serializers.ListField(child=serializers.DateField(), default=list, max_length=1000)


class CalendarWorkflowSerializer(serializers.ModelSerializer):
    class Meta:
        model = Workflow
        fields = ["id", "name", "version", "status"]


class CalendarSerializer(serializers.ModelSerializer):
    weekly_hours = serializers.DictField(child=serializers.ListField(child=serializers.ListField(child=serializers.CharField())))
    holidays = serializers.ListField(child=serializers.DateField())
    workflows = CalendarWorkflowSerializer(many=True, help_text="The workflows (every version) whose SLA runs on it.")

    class Meta:
        model = BusinessCalendar
        fields = ["id", "name", "time_zone", "weekly_hours", "holidays", "workflows", "created_at", "updated_at"]


# --- Tasks ---------------------------------------------------------------------------------------------------------
class TaskSerializer(DirectReads, serializers.ModelSerializer):
    """DESIGN §5's task representation, plus what a queue view needs (names, role, SLA state). Read directly
    (DirectReads): a list page renders 50 of them."""

    current_step = serializers.IntegerField(source="current_step_id", allow_null=True)
    # Names annotated by the task selectors (tasks._with_names).
    current_step_name = serializers.CharField(allow_null=True, default=None)
    role_id = serializers.IntegerField(allow_null=True, default=None)
    role_name = serializers.CharField(allow_null=True, default=None)
    assigned_user = serializers.IntegerField(source="assigned_user_id", allow_null=True)
    assigned_username = serializers.CharField(allow_null=True, default=None)
    owner = serializers.IntegerField(source="owner_id", allow_null=True)
    owner_username = serializers.CharField(allow_null=True, default=None)
    sla_state = serializers.ChoiceField(
        choices=["ok", "warning", "breached"], help_text="warning: 75% of the SLA elapsed; the clock stops on hold."
    )

    class Meta:
        model = Task
        fields = [
            "task_id", "workflow_id", "external_ticket_id", "title", "description", "priority", "status",
            "current_step", "current_step_name", "role_id", "role_name", "assigned_user", "assigned_username",
            "owner", "owner_username", "sla_deadline", "sla_state", "on_hold_since", "created_at", "updated_at",
            "completed_at",
        ]  # fmt: skip


class StepInstanceSerializer(serializers.ModelSerializer):
    step_name = serializers.CharField(source="step.name")
    role_id = serializers.IntegerField(source="step.role_id")
    acted_by = serializers.IntegerField(source="acted_by_id", allow_null=True)

    class Meta:
        model = StepInstance
        fields = ["id", "step_id", "step_name", "role_id", "status", "started_at", "due_at", "ended_at", "acted_by", "notes"]


class AssignmentSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    role_name = serializers.CharField(source="role.name")
    assigned_by = serializers.IntegerField(source="assigned_by_id", allow_null=True)

    class Meta:
        model = Assignment
        fields = [
            "id", "user_id", "username", "role_id", "role_name", "reason", "step_instance_id", "assigned_by",
            "assigned_at", "ended_at",
        ]  # fmt: skip


class FilterStepSerializer(serializers.Serializer):
    filter = serializers.ChoiceField(choices=FILTERS)
    removed = serializers.ListField(child=serializers.IntegerField(), help_text="User ids this filter removed.")


class DecisionSerializer(serializers.ModelSerializer):
    candidates = serializers.ListField(
        child=serializers.IntegerField(), help_text="The role's users in round-robin (user_id) order."
    )
    filters = FilterStepSerializer(many=True, help_text="Applied in this order; each user is under the first that removed them.")
    detail = serializers.DictField(help_text="loads: open tasks per user id (least-loaded picks); lead, lead_eligible.")

    class Meta:
        model = AssignmentDecision
        fields = [
            "id", "step_instance_id", "role_id", "sequence", "strategy", "policy", "candidates", "filters", "detail",
            "cursor_before", "cursor_after", "user_id", "outcome", "reason", "decided_at",
        ]  # fmt: skip


class TaskPauseSerializer(serializers.ModelSerializer):
    started_by = serializers.IntegerField(source="started_by_id", allow_null=True)
    ended_by = serializers.IntegerField(source="ended_by_id", allow_null=True)

    class Meta:
        model = TaskPause
        fields = ["id", "reason", "notes", "started_at", "ended_at", "started_by", "ended_by"]


class TaskDetailSerializer(TaskSerializer):
    step_history = StepInstanceSerializer(source="step_instances", many=True)
    pauses = TaskPauseSerializer(many=True, help_text="When the SLA clock stood still and why, oldest first.")
    assignments = AssignmentSerializer(many=True)
    decisions = DecisionSerializer(many=True, help_text="Every assignment decision made for the task, oldest first.")
    external_requested_by = serializers.IntegerField(source="external_requested_by_id", allow_null=True)

    class Meta(TaskSerializer.Meta):
        fields = [
            *TaskSerializer.Meta.fields, "ticket_data", "ticket_created_at", "step_history", "assignments", "decisions",
            "pauses", "sla_next_warning_at", "sla_next_warning_percent",
            "external_action", "external_attempt", "external_requested_at", "external_requested_by",
            "external_requested_by_username", "external_reference", "external_reason", "external_error",
            "ams_reservation", "asset_alternatives", "selected_asset_id", "selected_duration_days", "bms_answer",
            "csat_rating", "csat_feedback",
        ]  # fmt: skip


class ActionInputSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=[a.value for a in TaskAction])
    notes = serializers.CharField(allow_blank=True, default="", max_length=10_000)
    to_user = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="transfer: a user id of the current step's role."
    )
    reference = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=100,
        help_text="external_approve (admins): the reservation or approval id obtained from the outside system.",
    )
    asset_id = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=255,
        help_text="select_asset: the asset to reserve (one of AMS's alternatives, or another asset id).",
    )
    duration_days = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        max_value=MAX_DURATION_DAYS,
        help_text="select_asset: for how many days (required when the ticket gives none).",
    )


class UserRefSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="user_id")

    class Meta:
        model = UserReplica
        fields = ["id", "username"]


class BulkActionInputSerializer(serializers.Serializer):
    task_ids = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=BULK_LIMIT)
    action = serializers.ChoiceField(choices=[a.value for a in BULK_ACTIONS])
    notes = serializers.CharField(allow_blank=True, default="", max_length=10_000)
    to_user = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="transfer: a user id of each task's current step's role."
    )


class BulkOutcomeSerializer(serializers.Serializer):
    task_id = serializers.UUIDField()
    done = serializers.BooleanField()
    status_code = serializers.IntegerField(help_text="What the one-by-one action would have answered: 200, 400, 403, 404, 409.")
    task_status = serializers.CharField(allow_null=True, help_text="The task's status after the action (done only).")
    reason = serializers.CharField(help_text="Why it was refused (empty when done).")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), allow_null=True, help_text="Field errors, if any."
    )


class BulkActionResultSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    refused = serializers.IntegerField()
    results = BulkOutcomeSerializer(many=True)


# --- Saved views ---------------------------------------------------------------------------------------------------
class SavedViewQuerySerializer(serializers.Serializer):
    """A saved view's list: the task list's query parameters of the same names."""

    q = serializers.CharField(allow_blank=True, default="", max_length=SEARCH_MAX_LENGTH)
    status = serializers.ListField(child=serializers.ChoiceField(choices=Task.Status.choices), default=list, max_length=20)
    priority = serializers.ListField(child=serializers.ChoiceField(choices=Priority.choices), default=list, max_length=20)
    sla_state = serializers.ChoiceField(choices=SlaState.choices, allow_blank=True, default="")
    mine = serializers.BooleanField(default=False)
    ordering = serializers.ChoiceField(
        choices=[f"{sign}{name}" for name in ("sla_deadline", "created_at", "priority") for sign in ("", "-")],
        allow_blank=True,
        default="",
    )


class SavedViewSerializer(serializers.ModelSerializer):
    query = SavedViewQuerySerializer()

    class Meta:
        model = SavedTaskView
        fields = ["id", "name", "query", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


# --- Audit ---------------------------------------------------------------------------------------------------------
class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id", "occurred_at", "actor_id", "actor_username", "action", "entity_type", "entity_id", "ticket_id",
            "data",
        ]  # fmt: skip


class AuditActionsSerializer(serializers.Serializer):
    actions = serializers.ListField(child=serializers.CharField())


# --- Intake bookkeeping (admins) -------------------------------------------------------------------------------------
class DeadLetterSerializer(serializers.ModelSerializer):
    integration_error = serializers.IntegerField(source="integration_error_id", allow_null=True)
    resolved_by = serializers.IntegerField(source="resolved_by_id", allow_null=True)

    class Meta:
        model = DeadLetter
        fields = [
            "id", "status", "ticket_id", "source_queue", "task_name", "reason", "retries", "dead_lettered_at",
            "received_at", "integration_error", "resolved_at", "resolved_by", "resolution_note",
        ]  # fmt: skip


class DeadLetterDetailSerializer(DeadLetterSerializer):
    class Meta(DeadLetterSerializer.Meta):
        fields = [*DeadLetterSerializer.Meta.fields, "message_key", "kwargs", "raw"]


class DeadLetterReprocessInputSerializer(serializers.Serializer):
    ticket = serializers.JSONField(
        required=False,
        help_text="A corrected HDTS ticket (the body of POST /tasks/) to publish instead of the dead-lettered one.",
    )
    note = serializers.CharField(allow_blank=True, default="", max_length=2000)


class DeadLetterDiscardInputSerializer(serializers.Serializer):
    note = serializers.CharField(allow_blank=True, default="", max_length=2000)


class IntegrationErrorSerializer(serializers.ModelSerializer):
    dead_letter = serializers.IntegerField(source="dead_letter.id", allow_null=True, default=None)

    class Meta:
        model = IntegrationError
        fields = [
            "id", "category", "source", "ticket_id", "message", "payload", "retry_count", "status", "dead_letter",
            "created_at", "updated_at",
        ]  # fmt: skip


class IntegrationErrorStatusInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=IntegrationError.Status.choices)


class UnroutedTicketSerializer(serializers.ModelSerializer):
    task_id = serializers.UUIDField(allow_null=True)

    class Meta:
        model = UnroutedTicket
        fields = ["id", "ticket_id", "category", "sub_category", "department", "payload", "received_at", "routed_at", "task_id"]


# --- Assignment: availability, role settings, fairness -------------------------------------------------------------
AVAILABILITY_FIELDS = ["status", "away_from", "away_until", "reason", "max_open_tasks"]


class AvailabilitySerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    updated_at = serializers.DateTimeField(allow_null=True, help_text="Null: never set (active).")
    updated_by = serializers.IntegerField(source="updated_by_id", allow_null=True)

    class Meta:
        model = AgentAvailability
        fields = ["user_id", "username", *AVAILABILITY_FIELDS, "updated_at", "updated_by"]


class AvailabilityInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=AgentAvailability.Status.choices,
        help_text="away: keeps current tasks, gets no new ones; unavailable: open tasks are re-assigned too.",
    )
    away_from = serializers.DateTimeField(allow_null=True, default=None, help_text="Out of office from (null: open).")
    away_until = serializers.DateTimeField(allow_null=True, default=None, help_text="Out of office until (null: open).")
    reason = serializers.CharField(allow_blank=True, default="", max_length=200)
    max_open_tasks = serializers.IntegerField(
        min_value=0, max_value=100_000, allow_null=True, default=None,
        help_text="Capacity: no new task while holding this many open ones (null: no cap).",
    )  # fmt: skip


class AgentSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=AgentAvailability.Status.choices, source="current_availability.status")
    away_from = serializers.DateTimeField(source="current_availability.away_from", allow_null=True)
    away_until = serializers.DateTimeField(source="current_availability.away_until", allow_null=True)
    reason = serializers.CharField(source="current_availability.reason")
    max_open_tasks = serializers.IntegerField(source="current_availability.max_open_tasks", allow_null=True)
    open_tasks = serializers.IntegerField(help_text="Open tasks the user holds (what max_open_tasks caps).")
    roles = serializers.SerializerMethodField()
    updated_at = serializers.DateTimeField(source="current_availability.updated_at", allow_null=True)

    class Meta:
        model = UserReplica
        fields = ["user_id", "username", "is_active", *AVAILABILITY_FIELDS, "open_tasks", "roles", "updated_at"]

    def get_roles(self, user: UserReplica) -> list[str]:
        return [membership.role.name for membership in user.roles.all()]


class RoleSettingsSerializer(serializers.Serializer):
    role_id = serializers.IntegerField()
    lead_user_id = serializers.IntegerField(allow_null=True)


class RoleSettingsInputSerializer(serializers.Serializer):
    lead_user_id = serializers.IntegerField(allow_null=True, help_text="A user holding the role; null clears it.")


class FairnessQuerySerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False, allow_null=True, default=None)
    until = serializers.DateTimeField(required=False, allow_null=True, default=None)


class FairnessUserSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    assignments = serializers.IntegerField()


class FairnessSerializer(serializers.Serializer):
    role_id = serializers.IntegerField()
    since = serializers.DateTimeField(allow_null=True)
    until = serializers.DateTimeField(allow_null=True)
    users = FairnessUserSerializer(many=True)
    spread = serializers.IntegerField(help_text="max - min of the per-user counts.")


# --- Integrations (admins) -------------------------------------------------------------------------------------
class IntegrationHealthSerializer(serializers.Serializer):
    """One outside system, from :func:`workflow_api.selectors.integrations.integration_health_list`."""

    name = serializers.CharField()
    external_action = serializers.CharField()
    label = serializers.CharField()
    configured = serializers.BooleanField()
    status = serializers.ChoiceField(
        choices=["ok", "degraded", "down", "unknown", "not_configured"],
        help_text="ok: last call succeeded; degraded: it failed; down: circuit open; unknown: no call yet.",
    )
    circuit_state = serializers.ChoiceField(choices=["closed", "open", "half_open"])
    circuit_open_until = serializers.DateTimeField(allow_null=True)
    calls = serializers.IntegerField()
    errors = serializers.IntegerField()
    last_called_at = serializers.DateTimeField(allow_null=True)
    last_latency_ms = serializers.FloatField(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True)
    last_error_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()
    pending_tasks = serializers.IntegerField(help_text="Tasks pending external approval on this system.")


# --- Routing simulator (admins) ------------------------------------------------------------------------------------
SIMULATE_MAX_TICKETS = 100


class SimulateInputSerializer(serializers.Serializer):
    """``{"tickets": [...]}`` (the view also accepts one bare ticket). A ticket is any JSON value: an invalid one
    is an answer (it would be dead-lettered), not a 400."""

    tickets = serializers.ListField(
        child=serializers.JSONField(),
        min_length=1,
        max_length=SIMULATE_MAX_TICKETS,
        help_text=f"HDTS tickets (1-{SIMULATE_MAX_TICKETS}), simulated in this order as if ingested in this order.",
    )


class SimulatedDecisionSerializer(serializers.Serializer):
    """A predicted pick, in the shape of a stored assignment decision."""

    role_id = serializers.IntegerField()
    sequence = serializers.IntegerField(help_text="The role's pick counter after this pick.")
    strategy = serializers.CharField()
    policy = serializers.CharField()
    candidates = serializers.ListField(child=serializers.IntegerField())
    filters = FilterStepSerializer(many=True)
    detail = serializers.DictField()
    cursor_before = serializers.IntegerField(allow_null=True)
    cursor_after = serializers.IntegerField(allow_null=True)
    user_id = serializers.IntegerField(allow_null=True)
    username = serializers.CharField()
    outcome = serializers.CharField()


class SimulatedStepSerializer(serializers.Serializer):
    step_id = serializers.IntegerField()
    name = serializers.CharField()
    role_id = serializers.IntegerField()
    role_name = serializers.CharField()
    sla_weight = serializers.CharField()
    due_at = serializers.DateTimeField(help_text="If ingested at the simulation's time.")
    due_in_seconds = serializers.FloatField(help_text="From entering the step to its due time.")


class SimulationSerializer(serializers.Serializer):
    """What intake would do with one ticket (selectors/simulation.py)."""

    index = serializers.IntegerField()
    ticket_id = serializers.CharField(allow_null=True)
    outcome = serializers.ChoiceField(choices=["task", "dead_letter", "duplicate", "unrouted"])
    explanation = serializers.ListField(child=serializers.CharField())
    dead_letter_reason = serializers.CharField(help_text="The reason the dead letter would carry.")
    match = serializers.DictField(
        allow_null=True, help_text="category, sub_category, department, candidates (deployed workflows of that "
        "category/sub-category), department_refined, workflow_id."
    )  # fmt: skip
    existing_task = serializers.DictField(allow_null=True)
    workflow = serializers.DictField(allow_null=True)
    priority = serializers.DictField(child=serializers.CharField(), allow_null=True)
    created_at = serializers.DateTimeField(allow_null=True)
    sla_deadline = serializers.DateTimeField(allow_null=True)
    step = SimulatedStepSerializer(allow_null=True)
    assignment = SimulatedDecisionSerializer(allow_null=True)
    owner = SimulatedDecisionSerializer(allow_null=True)


class SimulationResultSerializer(serializers.Serializer):
    simulated_at = serializers.DateTimeField()
    results = SimulationSerializer(many=True)


# --- Impact replay -------------------------------------------------------------------------------------------------
class ProposedCalendarSerializer(CalendarInputSerializer):
    name = serializers.CharField(max_length=100, default="Proposed calendar")


class ImpactInputSerializer(serializers.Serializer):
    limit = serializers.IntegerField(
        min_value=1, max_value=IMPACT_MAX_TICKETS, default=500, help_text="How many of the last tickets received to replay."
    )
    calendar = ProposedCalendarSerializer(
        required=False, help_text="A calendar (time_zone, weekly_hours, holidays) to replay with instead of the workflow's own."
    )


class ImpactPlacementSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=["task", "unrouted"])
    workflow_id = serializers.IntegerField(allow_null=True)
    workflow_lineage = serializers.CharField(allow_null=True)
    workflow_name = serializers.CharField(allow_null=True)
    workflow_version = serializers.IntegerField(allow_null=True)
    step = serializers.CharField(allow_null=True, help_text="The first step.")
    role_id = serializers.IntegerField(allow_null=True, help_text="The first step's role: who would be assigned.")
    role_name = serializers.CharField(allow_null=True)
    sla_deadline = serializers.DateTimeField(allow_null=True)


class ImpactChangeSerializer(serializers.Serializer):
    ticket_id = serializers.CharField()
    received_at = serializers.DateTimeField()
    changes = serializers.ListField(child=serializers.ChoiceField(choices=["workflow", "first_step", "deadline", "assignee_role"]))
    before = ImpactPlacementSerializer()
    after = ImpactPlacementSerializer()


class ImpactLoadSerializer(serializers.Serializer):
    role_id = serializers.IntegerField()
    role_name = serializers.CharField()
    before = serializers.IntegerField()
    after = serializers.IntegerField()
    change = serializers.IntegerField(help_text="Tickets the role's first steps would gain (negative: lose).")


class ImpactSerializer(serializers.Serializer):
    replayed_at = serializers.DateTimeField()
    workflow_id = serializers.IntegerField()
    tickets = serializers.IntegerField(help_text="How many tickets were replayed.")
    changed = ImpactChangeSerializer(many=True, help_text="The tickets whose placement would change.")
    load = ImpactLoadSerializer(many=True, help_text="The roles whose load would change.")


# --- Reports ---------------------------------------------------------------------------------------------------------

class ReportQuerySerializer(serializers.Serializer):
    """The query string every report takes (its rules: selectors.reports.report_query)."""

    tz = serializers.CharField(required=False, default="UTC", max_length=64, help_text="IANA time zone of the days.")
    interval = serializers.ChoiceField(choices=["day", "week"], required=False, default="day")
    workflow = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1, help_text="A workflow (version) id.")
    role = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1, help_text="A role id (the steps it owns).")
    agent = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1, help_text="A user id.")
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    group = serializers.ChoiceField(
        choices=GROUPS, required=False, default="period", help_text="Rows per period (default) or per workflow, step, role, agent, priority (SLA and throughput)."
    )
    format = serializers.ChoiceField(choices=["json", "csv"], required=False, help_text="csv: one table as CSV.")
    table = serializers.CharField(required=False, max_length=32, help_text="The table ?format=csv gives (default: the first).")

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # Python keywords, hence not class attributes.
        fields["from"] = serializers.DateField(required=False, help_text="First day (in tz), default 29 days before to.")
        fields["to"] = serializers.DateField(required=False, help_text="Last day (in tz), default today.")
        return fields


class _GroupRow(serializers.Serializer):
    key = serializers.CharField(help_text="The period's first day (ISO), or the group's id / priority.")
    label = serializers.CharField()


def _counts(*names: str) -> dict[str, serializers.Field]:
    return {name: serializers.IntegerField() for name in names}


def _nullable_float(help_text: str = "") -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, help_text=help_text)


ThroughputRowSerializer = type(
    "ThroughputRowSerializer",
    (_GroupRow,),
    {
        **_counts(*(kind.value for kind in THROUGHPUT_KINDS if kind != "rated"), "csat_count"),
        "csat_average": _nullable_float("Average CSAT rating (1-5), null without ratings."),
    },
)


class ThroughputReportSerializer(serializers.Serializer):
    rows = ThroughputRowSerializer(many=True)


class SlaRowSerializer(_GroupRow):
    finished = serializers.IntegerField(help_text="Tasks completed or rejected.")
    within_sla = serializers.IntegerField(help_text="... by their own deadline (calendar and holds included).")
    within_sla_percent = _nullable_float()
    breached = serializers.IntegerField()
    warned = serializers.IntegerField()


class ReportTaskSerializer(serializers.Serializer):
    task_id = serializers.UUIDField()
    ticket_id = serializers.CharField()
    title = serializers.CharField()
    workflow_id = serializers.IntegerField()
    workflow = serializers.CharField()
    step_id = serializers.IntegerField(allow_null=True)
    step = serializers.CharField()
    role_id = serializers.IntegerField(allow_null=True)
    assigned_user_id = serializers.IntegerField(allow_null=True)
    assignee = serializers.CharField()
    priority = serializers.CharField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    sla_deadline = serializers.DateTimeField()


class AtRiskTaskSerializer(ReportTaskSerializer):
    seconds_left = serializers.IntegerField()


class SlaReportSerializer(serializers.Serializer):
    rows = SlaRowSerializer(many=True)
    at_risk = AtRiskTaskSerializer(many=True, help_text="Open tasks past their first warning, not breached yet.")


BacklogAgeRowSerializer = type(
    "BacklogAgeRowSerializer",
    (serializers.Serializer,),
    {
        "role_id": serializers.IntegerField(allow_null=True),
        "role": serializers.CharField(),
        "step_id": serializers.IntegerField(allow_null=True),
        "step": serializers.CharField(),
        **_counts("total", *(name for name, _, _ in AGE_BUCKETS)),
    },
)


class OldestTaskSerializer(ReportTaskSerializer):
    age_seconds = serializers.IntegerField()


class BacklogReportSerializer(serializers.Serializer):
    by_age = BacklogAgeRowSerializer(many=True)
    oldest = OldestTaskSerializer(many=True)


class StepRowSerializer(serializers.Serializer):
    workflow_id = serializers.IntegerField()
    workflow = serializers.CharField()
    step_id = serializers.IntegerField()
    step = serializers.CharField()
    role_id = serializers.IntegerField()
    role = serializers.CharField()
    sla_weight_percent = serializers.FloatField()
    visits = serializers.IntegerField(help_text="Visits that ended in the range.")
    median_seconds = _nullable_float()
    p90_seconds = _nullable_float()
    sla_used_percent = _nullable_float("Average share of the task's SLA used at the step (compare with its weight).")
    breaches = serializers.IntegerField(help_text="Breaches while tasks were at the step.")


class StepsReportSerializer(serializers.Serializer):
    rows = StepRowSerializer(many=True)


class AgentRowSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    assigned = serializers.IntegerField()
    acted = serializers.IntegerField(help_text="Steps they closed.")
    completed = serializers.IntegerField(help_text="Tasks completed while they held them.")
    open_now = serializers.IntegerField()
    median_seconds_to_action = _nullable_float()
    p90_seconds_to_action = _nullable_float()
    reassigned_away = serializers.IntegerField()
    csat_count = serializers.IntegerField()
    csat_average = _nullable_float()


class AgentsReportSerializer(serializers.Serializer):
    rows = AgentRowSerializer(many=True)
