"""Reads of workflow definitions."""
from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from workflow_api.models import BusinessCalendar, Priority, Workflow, WorkflowStep, WorkflowTransition

HOUR = 3600
# An exported workflow: roles and the calendar by name, so it imports into another installation too.
WORKFLOW_DOCUMENT_FORMAT = "tts.workflow/1"


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


def sla_hours(workflow: Workflow) -> dict[str, float]:
    """The workflow's SLA per internal priority, in hours."""
    return {p.value: getattr(workflow, f"sla_{p.value}").total_seconds() / HOUR for p in Priority}


def workflow_document(workflow: Workflow) -> dict[str, Any]:
    """``workflow`` (as :func:`workflow_get` loads it) as an export document: what POST /workflows/import/ takes."""
    return {
        "format": WORKFLOW_DOCUMENT_FORMAT,
        **{field: getattr(workflow, field) for field in ("name", "description", "category", "sub_category", "department")},
        "coordinator_role": workflow.coordinator_role.name,
        "escalation_role": workflow.escalation_role.name if workflow.escalation_role else None,
        "sla_hours": sla_hours(workflow),
        "calendar": workflow.calendar.name if workflow.calendar else None,
        "sla_warning_thresholds": workflow.sla_warning_thresholds,
        "steps": [
            {
                "name": step.name, "order": step.order, "role": step.role.name, "sla_weight": step.sla_weight,
                "assignment_strategy": step.assignment_strategy, "no_eligible_policy": step.no_eligible_policy,
                "external_action": step.external_action,
            }  # fmt: skip
            for step in workflow.steps.all()
        ],
        "transitions": [
            {"from_step": t.from_step.name, "action": t.action, "to_step": t.to_step.name if t.to_step else None}
            for t in workflow.transitions.all()
        ],
    }


def calendar_list() -> QuerySet[BusinessCalendar]:
    """Calendars with the workflows that use them (every version: a deployed or archived one still holds tasks)."""
    workflows = Workflow.objects.only("pk", "name", "version", "status", "calendar_id").order_by("name", "-version")
    return BusinessCalendar.objects.prefetch_related(Prefetch("workflows", queryset=workflows)).order_by("name", "pk")


def calendar_get(*, calendar_id: int) -> BusinessCalendar | None:
    return calendar_list().filter(pk=calendar_id).first()
