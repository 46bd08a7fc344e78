"""workflow_api's live figures for ``/metrics`` (registered with :mod:`tts_common.base.metrics` by the app's
AppConfig): tasks and assignments made, dead letters by status, and the help desk's state now (open tasks, SLA)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Count, Min, Sum
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from tts_common.base import metrics
from workflow_api.models import Assignment, DeadLetter, ReportBucket, ReportDelta, Task


def read_counts() -> dict[str, Any]:
    """Task and assignment rows are never deleted, so those two totals only grow and are exposed as counters."""
    return {
        "tasks": Task.objects.count(),
        "assignments": Assignment.objects.count(),
        # The drain job empties the DLQ into this table every few seconds: what waits for an admin is counted here.
        "dead_letters": metrics.count_by_status(DeadLetter),
    }


def count_metrics(counts: dict[str, Any]) -> Iterator[Metric]:
    yield CounterMetricFamily("tts_tasks_created", "Tasks created (tickets ingested).", value=counts["tasks"])
    yield CounterMetricFamily("tts_assignments", "Task assignments made.", value=counts["assignments"])
    yield metrics.by_status("tts_dead_letters", "Dead letters taken from the DLQ, by status (pending = awaiting an "
                            "admin).", counts["dead_letters"], DeadLetter.Status.values)


def read_business() -> dict[str, Any]:
    """The help desk's state now: open tasks by their step's role, the oldest open task, the open task furthest past
    its deadline (clock running), and the SLA breaches and warnings so far (the report rollups' totals)."""
    now = timezone.now()
    open_tasks = Task.objects.filter(status__in=Task.OPEN_STATUSES)
    by_role = open_tasks.values_list("current_step__role__name").annotate(n=Count("pk")).order_by()
    oldest = open_tasks.aggregate(at=Min("created_at"))["at"]
    overdue = Task.objects.filter(status__in=["pending", "in_progress"], sla_deadline__lt=now).aggregate(
        n=Count("pk"), at=Min("sla_deadline")
    )
    totals: dict[str, int] = {}
    for model in (ReportBucket, ReportDelta):
        rows = model.objects.filter(kind__in=["breached", "warned"])
        for kind, n in rows.values_list("kind").annotate(n=Sum("count")).order_by():
            totals[kind] = totals.get(kind, 0) + int(n)
    return {
        "open_by_role": {role or "": n for role, n in by_role},
        "oldest_open_seconds": (now - oldest).total_seconds() if oldest else 0,
        "past_deadline": overdue["n"],
        "most_overdue_seconds": (now - overdue["at"]).total_seconds() if overdue["at"] else 0,
        "breaches": totals.get("breached", 0),
        "warnings": totals.get("warned", 0),
    }


def business_metrics(figures: dict[str, Any]) -> Iterator[Metric]:
    by_role = GaugeMetricFamily("tts_open_tasks", "Open tasks by their current step's role.", labels=["role"])
    for role, n in figures["open_by_role"].items():
        by_role.add_metric([role], n)
    yield by_role
    yield GaugeMetricFamily("tts_oldest_open_task_age_seconds", "Age of the oldest open task (0: none open).",
                            value=figures["oldest_open_seconds"])
    yield GaugeMetricFamily("tts_open_tasks_past_deadline", "Open tasks (clock running) past their SLA deadline.",
                            value=figures["past_deadline"])
    yield GaugeMetricFamily("tts_most_overdue_open_task_seconds", "How far the open task furthest past its SLA "
                            "deadline is past it (0: none).", value=figures["most_overdue_seconds"])
    yield CounterMetricFamily("tts_sla_breaches", "SLA breaches so far.", value=figures["breaches"])
    yield CounterMetricFamily("tts_sla_warnings", "SLA warnings sent so far.", value=figures["warnings"])


def register() -> None:
    metrics.register_live_source("workflow_api", read_counts, count_metrics)
    metrics.register_live_source("business", read_business, business_metrics)
