"""Query-string filters of the workflow API (invalid values answer 400 through DjangoFilterBackend)."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import UUID

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django_filters.constants import EMPTY_VALUES

from tts_common.http.filters import InChoicesFilter, StaticFormFilterSet, UtcDateTimeFilter
from workflow_api.models import (
    AgentAvailability,
    AuditEvent,
    DeadLetter,
    IntegrationError,
    Priority,
    Task,
    UnroutedTicket,
    UserReplica,
    Workflow,
    WorkflowStep,
)
from workflow_api.selectors.queue import QUEUE_ORDERING
from workflow_api.selectors.reports import (
    DAY_OUT_OF_RANGE,
    FIRST_YEAR,
    LAST_YEAR,
    UNKNOWN_TIME_ZONE,
    day_start,
    known_time_zones,
)
from workflow_api.selectors.tasks import SEARCH_MAX_LENGTH, SlaState, task_search, tasks_assigned_or_owned


class WorkflowFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Workflow.Status.choices)

    class Meta:
        model = Workflow
        fields = ["status", "category", "sub_category", "department", "lineage"]


TASK_ORDERINGS = (("created_at", "created_at"), ("sla_deadline", "sla_deadline"), ("priority_rank", "priority"))


class TaskOrderingFilter(django_filters.OrderingFilter):
    """Ties broken by task_id in the first key's direction: paging is stable, and one index on (key, task_id)
    serves the key both ways."""

    def filter(self, queryset: QuerySet[Task], value: list[str] | None) -> QuerySet[Task]:
        terms = [self.get_ordering_value(term) for term in value or [] if term not in EMPTY_VALUES]
        if not terms:
            return queryset
        return queryset.order_by(*terms, "-task_id" if terms[0].startswith("-") else "task_id")


class LocalDayFilter(django_filters.DateFilter):
    """A local day of the list's ``tz`` (as the reports cut days): ``*_from`` keeps what happened from the day's
    start, ``*_to`` what happened before the next day's start."""

    def __init__(self, *, field_name: str, last: bool, label: str) -> None:
        super().__init__(field_name=field_name, lookup_expr="lt" if last else "gte", label=label)

    def filter(self, queryset: QuerySet[Task], value: date | None) -> QuerySet[Task]:
        if value in EMPTY_VALUES:
            return queryset
        day = value + timedelta(days=1) if self.lookup_expr == "lt" else value
        moment = day_start(day, self.parent.form.cleaned_data.get("tz") or "UTC")
        return queryset.filter(**{f"{self.field_name}__{self.lookup_expr}": moment})


# The task list's day filters, each as a report counts its figure: name -> (the task's column, what it is).
TASK_DAYS = {
    "created": ("created_at", "Created"),
    "closed": ("completed_at", "Closed (completed, rejected or cancelled)"),
    "breached": ("sla_breached_at", "Past its SLA deadline (the breach the SLA monitor recorded)"),
}


def _day_filters() -> dict[str, LocalDayFilter]:
    return {
        f"{name}_{end}": LocalDayFilter(field_name=column, last=end == "to", label=f"{text} on or {when} this day (in tz).")
        for name, (column, text) in TASK_DAYS.items()
        for end, when in (("from", "after"), ("to", "before"))
    }


class TaskFilterForm(forms.Form):
    """The day filters' rules, as the reports': a time zone PostgreSQL knows, days from 1970 to 9998, from <= to."""

    def clean_tz(self) -> str:
        tz = self.cleaned_data.get("tz") or "UTC"
        if tz not in known_time_zones():
            raise forms.ValidationError(UNKNOWN_TIME_ZONE)
        return tz

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name in TASK_DAYS:
            first, last = cleaned.get(f"{name}_from"), cleaned.get(f"{name}_to")
            outside = [(f"{name}_{end}", day) for end, day in (("from", first), ("to", last))
                       if day is not None and not FIRST_YEAR <= day.year <= LAST_YEAR]  # fmt: skip
            for field, _ in outside:
                self.add_error(field, DAY_OUT_OF_RANGE)
            if not outside and first and last and first > last:
                self.add_error(f"{name}_from", f"Must not be after {name}_to.")
        return cleaned


class TaskFilter(StaticFormFilterSet):
    q = django_filters.CharFilter(
        method="filter_search",
        max_length=SEARCH_MAX_LENGTH,
        label=(
            "Search ticket id, title and description: every word (English stems: 'printers' finds 'printer'), "
            '"a phrase", -word to exclude, "or" between alternatives.'
        ),
    )
    mine = django_filters.BooleanFilter(method="filter_mine", label="Assigned to or owned by the caller.")
    status = InChoicesFilter(choices=Task.Status.choices)
    priority = InChoicesFilter(choices=Priority.choices)
    role = django_filters.CharFilter(method="filter_role", label="The current step's role: its id or its name.")
    workflow = django_filters.NumberFilter(field_name="workflow_id")
    assigned_user = django_filters.NumberFilter(field_name="assigned_user_id")
    external_ticket_id = django_filters.CharFilter()
    # Annotated by the task selectors.
    sla_state = django_filters.ChoiceFilter(choices=SlaState.choices)
    tz = django_filters.CharFilter(method="filter_tz", max_length=64, label="IANA time zone of the days (default UTC).")
    ordering = TaskOrderingFilter(fields=TASK_ORDERINGS)

    class Meta:
        model = Task
        fields: list[str] = []
        form = TaskFilterForm

    def filter_tz(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        return queryset  # the day filters read it

    def filter_mine(self, queryset: QuerySet[Task], name: str, value: bool | None) -> QuerySet[Task]:
        if not value:
            return queryset
        return tasks_assigned_or_owned(queryset, user_id=self.request.user.id)

    def filter_search(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        return task_search(queryset, text=value)

    def filter_role(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        # The role's steps (a few dozen) read first and given as values: as a subquery, the planner joined the steps
        # to the tasks and read every task in step order to do it.
        steps = WorkflowStep.objects.filter(role_id=int(value)) if value.isdigit() else WorkflowStep.objects.filter(
            role__name__iexact=value
        )
        return queryset.filter(current_step__in=list(steps.order_by().values_list("id", flat=True)))



TaskFilter.base_filters.update(_day_filters())  # created_from, created_to, closed_from, ... (read with tz)

_QUEUE_PARAMETERS = frozenset({"mine", "status", "ordering", "cursor", "page_size"})
_STATUSES = frozenset(Task.Status.values)


def agent_queue_statuses(params: QueryDict) -> list[str] | None:
    """The statuses asked for by the query string of an agent's queue page (web/static/web/queue.js: ``mine=true``,
    one or more valid ``status``, ``ordering=sla_deadline``, ``cursor``, at most a ``page_size``), which
    selectors.queue reads; None for any other query string, which TaskFilter reads (and answers its errors)."""
    if not params.keys() <= _QUEUE_PARAMETERS or len(params.getlist("page_size")) > 1:
        return None
    if any(len(params.getlist(name)) != 1 for name in ("mine", "ordering", "cursor")):
        return None
    if params["mine"] != "true" or params["ordering"] != QUEUE_ORDERING[0]:
        return None
    statuses = params.getlist("status")
    return statuses if statuses and _STATUSES.issuperset(statuses) else None


class AgentFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(field_name="username", lookup_expr="icontains")
    status = django_filters.ChoiceFilter(
        choices=AgentAvailability.Status.choices, method="filter_status", label="The stored status (never set: active)."
    )
    role = django_filters.NumberFilter(field_name="roles__role_id", label="Holding this role (its id).")

    class Meta:
        model = UserReplica
        fields = ["is_active"]

    def filter_status(self, queryset: QuerySet[UserReplica], name: str, value: str) -> QuerySet[UserReplica]:
        if value == AgentAvailability.Status.ACTIVE:
            return queryset.filter(Q(availability__isnull=True) | Q(availability__status=value))
        return queryset.filter(availability__status=value)


class AuditEventFilter(django_filters.FilterSet):
    occurred_after = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="lt")
    actor = django_filters.CharFilter(field_name="actor_username", lookup_expr="iexact", label="The actor's username.")
    task = django_filters.UUIDFilter(method="filter_task", label="Events of this task (its id).")

    class Meta:
        model = AuditEvent
        fields = ["action", "entity_type", "entity_id", "ticket_id", "actor_id"]

    def filter_task(self, queryset: QuerySet[AuditEvent], name: str, value: UUID | None) -> QuerySet[AuditEvent]:
        return queryset.filter(entity_type="task", entity_id=str(value)) if value else queryset


class DeadLetterFilter(django_filters.FilterSet):
    status = InChoicesFilter(choices=DeadLetter.Status.choices)
    received_after = UtcDateTimeFilter(field_name="received_at", lookup_expr="gte")
    received_before = UtcDateTimeFilter(field_name="received_at", lookup_expr="lt")

    class Meta:
        model = DeadLetter
        fields = ["ticket_id", "source_queue"]


class IntegrationErrorFilter(django_filters.FilterSet):
    status = InChoicesFilter(choices=IntegrationError.Status.choices)
    category = InChoicesFilter(choices=IntegrationError.Category.choices)
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = IntegrationError
        fields = ["source", "ticket_id"]


class UnroutedTicketFilter(django_filters.FilterSet):
    routed = django_filters.BooleanFilter(
        field_name="routed_at", lookup_expr="isnull", exclude=True, label="true: routed since; false: still waiting."
    )

    class Meta:
        model = UnroutedTicket
        fields = ["ticket_id", "category", "sub_category", "department"]
