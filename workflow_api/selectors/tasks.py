"""Reads of tasks: who may see which task, and each task's SLA state, computed in the database so it can be
filtered and ordered on."""
from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.contrib.postgres.search import SearchQuery
from django.db import models
from django.db.models import (
    Case,
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThan, LessThanOrEqual
from django.utils import timezone

from tts_common.auth import TokenUser, is_admin
from workflow_api.models import (
    SEARCH_CONFIG,
    SLA_WARNING_DIVISOR,
    Assignment,
    Priority,
    SavedTaskView,
    StepInstance,
    Task,
    priority_rank,
)


class SlaState(models.TextChoices):
    OK = "ok"
    WARNING = "warning"  # a quarter or less of the SLA left (75 % used)
    BREACHED = "breached"


def _with_sla_state(queryset: QuerySet[Task], now: datetime) -> QuerySet[Task]:
    # The clock stops while the task is on hold and when it is closed.
    as_of = Coalesce("on_hold_since", "completed_at", Value(now), output_field=DateTimeField())
    left = ExpressionWrapper((F("sla_deadline") - as_of) * SLA_WARNING_DIVISOR, output_field=DurationField())
    # The monitor's rule (services.sla): the time left against the workflow's SLA for the priority, so hold time
    # (which pushed the deadline out) never counts as elapsed.
    sla = Case(
        *(When(priority=priority, then=F(f"workflow__sla_{priority}")) for priority in Priority.values),
        output_field=DurationField(),
    )
    warning = LessThanOrEqual(left, sla)
    return queryset.annotate(
        sla_state=Case(
            When(GreaterThan(as_of, F("sla_deadline")), then=Value(SlaState.BREACHED.value)),
            When(warning, then=Value(SlaState.WARNING.value)),
            default=Value(SlaState.OK.value),
            output_field=models.CharField(),
        ),
        priority_rank=priority_rank(),
    )


# Ties (tasks created in one batch) are broken by task_id in the same direction, so one index on
# (created_at, task_id) serves the list forwards and backwards, as for every ordering of TaskFilter.
NEWEST_FIRST = ("-created_at", "-task_id")


def task_count() -> int:
    return Task.objects.count()


# What the list shows (TaskSerializer); the detail reads every column.
LIST_COLUMNS = (
    "task_id", "workflow_id", "external_ticket_id", "title", "description", "priority", "status", "current_step_id",
    "assigned_user_id", "owner_id", "sla_deadline", "on_hold_since", "created_at", "updated_at", "completed_at",
    "current_step__name", "current_step__role_id", "current_step__role__name", "assigned_user__username",
    "owner__username",
)  # fmt: skip


def _visible_ids(user_id: int) -> QuerySet:
    """The ids of the tasks a user holds or held, owns, or is assigned: one UNION of three index scans, which the
    database joins to the tasks by primary key (an OR of the three, EXISTS included, reads every task)."""
    held = Assignment.objects.filter(user_id=user_id).order_by().values("task_id")
    owned = Task.objects.filter(owner_id=user_id).order_by().values("task_id")
    assigned = Task.objects.filter(assigned_user_id=user_id).order_by().values("task_id")
    return held.union(owned, assigned)


def _visible_to(actor: TokenUser) -> Q:
    """The same visibility as :func:`_visible_ids`, for reading one task (its primary key found first)."""
    if is_admin(actor):
        return Q()
    held = Assignment.objects.filter(task=OuterRef("pk"), user_id=actor.id)
    return Q(assigned_user_id=actor.id) | Q(owner_id=actor.id) | Exists(held)


def task_list(*, actor: TokenUser) -> QuerySet[Task]:
    """The tasks ``actor`` may see, newest first: admins see all; agents see the tasks assigned to them, owned by
    them, or that they held at some point (so their own past work stays reachable)."""
    tasks = Task.objects.all() if is_admin(actor) else Task.objects.filter(pk__in=_visible_ids(actor.id))
    tasks = tasks.select_related("current_step__role", "assigned_user", "owner").only(*LIST_COLUMNS)
    return _with_sla_state(tasks, timezone.now()).order_by(*NEWEST_FIRST)


SEARCH_MAX_LENGTH = 200


def task_search(tasks: QuerySet[Task], *, text: str) -> QuerySet[Task]:
    """The tasks whose ticket id, title or description match ``text``, read as a web search box reads it (words
    all present, "a phrase", -excluded, or): through websearch_to_tsquery with ``text`` as a parameter, so quotes,
    operators and SQL in it are only ever words to look for. Matched against the stored ``search_document``."""
    return tasks.filter(search_document=SearchQuery(text, search_type="websearch", config=SEARCH_CONFIG))


def task_is_visible(*, actor: TokenUser, task_id: UUID) -> bool:
    return Task.objects.filter(_visible_to(actor), pk=task_id).exists()


def task_get(*, actor: TokenUser, task_id: UUID) -> Task | None:
    """One visible task with its step history, assignments, assignment decisions and pauses; ``None`` if it does not exist *or* is not visible,
    so the API answers 404 either way and does not reveal other users' tasks."""
    tasks = Task.objects.filter(_visible_to(actor), pk=task_id).select_related(
        "current_step__role", "assigned_user", "owner"
    )
    return (
        _with_sla_state(tasks, timezone.now())
        .prefetch_related(
            Prefetch("step_instances", queryset=StepInstance.objects.select_related("step")),
            Prefetch("assignments", queryset=Assignment.objects.select_related("user", "role")),
            "decisions",
            "pauses",
        )
        .first()
    )


def saved_view_list(*, owner_id: int) -> QuerySet[SavedTaskView]:
    return SavedTaskView.objects.filter(owner_id=owner_id)


def saved_view_get(*, owner_id: int, view_id: int) -> SavedTaskView | None:
    """The caller's own view; another user's is ``None`` like a missing one (the API answers 404 either way)."""
    return saved_view_list(owner_id=owner_id).filter(pk=view_id).first()
