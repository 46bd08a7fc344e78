"""Reads of workflow definitions."""
from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from workflow_api.models import BusinessCalendar, Workflow, WorkflowStep, WorkflowTransition


def workflow_list() -> QuerySet[Workflow]:
    """Every workflow with its roles, steps and transitions loaded in a fixed number of queries."""
    return (
        Workflow.objects.select_related("coordinator_role", "escalation_role", "calendar")
        .prefetch_related(
            Prefetch("steps", queryset=WorkflowStep.objects.select_related("role").order_by("order")),
            Prefetch(
                "transitions",
                queryset=WorkflowTransition.objects.select_related("from_step", "to_step").order_by(
                    "from_step__order", "action"
                ),
            ),
        )
        .order_by("category", "sub_category", "department", "name", "-version")
    )


def workflow_get(*, workflow_id: int) -> Workflow | None:
    return workflow_list().filter(pk=workflow_id).first()


def calendar_list() -> QuerySet[BusinessCalendar]:
    """Calendars with the workflows that use them (every version: a deployed or archived one still holds tasks)."""
    workflows = Workflow.objects.only("pk", "name", "version", "status", "calendar_id").order_by("name", "-version")
    return BusinessCalendar.objects.prefetch_related(Prefetch("workflows", queryset=workflows)).order_by("name", "pk")


def calendar_get(*, calendar_id: int) -> BusinessCalendar | None:
    return calendar_list().filter(pk=calendar_id).first()
