"""Prometheus metrics: what each process counts, what ``/metrics`` reads live at scrape time, and the view.

Two kinds of figures, because web replicas and Celery's prefork children are separate processes:

- *Counted by the process that sees the event* (HTTP requests, consumed messages, circuit breaker state). With
  ``PROMETHEUS_MULTIPROC_DIR`` set in the environment of every web and worker process of a machine (one folder,
  emptied before they start), prometheus_client's multiprocess mode has each process write its samples there and
  ``/metrics`` on any web process of that machine adds them up, workers' included. Without it a process exposes only
  its own counters: enough for one web process, but worker counters are then not visible. A machine that runs only
  workers has no ``/metrics`` of its own: run a web process there too (it serves nothing else) or scrape the folder
  with another multiprocess exporter.
- *Read live, the same for the whole deployment* (queue depth and consumers, tasks created, assignments made, email
  deliveries by status, open tasks and SLA breaches): a passive queue declare on the broker and database counts, correct however many processes
  run. They are cached in the shared Django cache for a few seconds, so that many replicas scraped at once cost the
  broker and the database one read. Every replica reports them: aggregate with ``max by (queue)`` (as
  ``ops/prometheus/alerts.yml`` does), never ``sum``.

Importable before Django's apps are loaded: the logging configuration imports it (through tts_common.base.logging).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import Any, TypeVar

from celery.signals import worker_process_shutdown
from circuitbreaker import STATE_OPEN, CircuitBreaker, CircuitBreakerMonitor
from django.apps import apps
from django.core.cache import cache
from django.db.models import Count, Min, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tts_common import contracts

logger = logging.getLogger(__name__)

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if MULTIPROC_DIR:  # prometheus_client writes there from the first sample on, and does not create it
    os.makedirs(MULTIPROC_DIR, exist_ok=True)

# Seconds a live reading is reused: below Prometheus' usual 15 s scrape interval, so each scrape is fresh enough.
LIVE_CACHE_SECONDS = 5
BROKER_TIMEOUT_SECONDS = 2.0
MONITORED_QUEUES: tuple[str, ...] = (*contracts.ALL_CONSUMED_QUEUES, contracts.TICKET_DLQ)

# --- Counted in-process -----------------------------------------------------------------------------------------
REQUEST_DURATION = Histogram(
    "tts_http_request_duration_seconds",
    "HTTP requests by route template, method and status (the _count series is the request rate).",
    ["route", "method", "status"],
    # 2 s is a bound: the latency alert asks whether p95 is above it.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0),
)
MESSAGES_CONSUMED = Counter(
    "tts_messages_consumed", "Queue messages consumed, by task, queue and outcome.", ["task", "queue", "outcome"]
)
# A breaker lives in each process that calls the integration: open if it is open in any live process.
CIRCUIT_OPEN = Gauge(
    "tts_circuit_open", "1 while the integration's circuit breaker is open.", ["integration"],
    multiprocess_mode="livemax",
)  # fmt: skip
CIRCUIT_FAILURES = Gauge(
    "tts_circuit_failures", "Consecutive failures counted by the circuit breaker.", ["integration"],
    multiprocess_mode="livemax",
)  # fmt: skip


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    RETRIED = "retried"
    DEAD_LETTERED = "dead_lettered"
    GAVE_UP = "gave_up"  # no dead-letter queue: recorded by the consumer (e.g. RejectedMessage) and dropped
    REQUEUED = "requeued"  # its outcome could not be made durable; the broker delivers it again


_QUEUE_OF_TASK = {route.task: route.queue for route in contracts.ROUTES}


def count_message(task: str, outcome: Outcome, n: int = 1) -> None:
    MESSAGES_CONSUMED.labels(task, _QUEUE_OF_TASK.get(task, ""), outcome).inc(n)


# Any other method is one label value, so that a client cannot add series at will.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    REQUEST_DURATION.labels(route, method if method in _METHODS else "other", str(status)).observe(seconds)


# --- Circuit breakers -------------------------------------------------------------------------------------------
_registered_circuits: dict[str, CircuitBreaker] = {}


def register_circuit(name: str, breaker: CircuitBreaker) -> None:
    """Report ``breaker`` as integration ``name``. Breakers made with circuitbreaker's ``@circuit`` decorator are
    reported under their own name without this; register those used as context managers, or to rename one."""
    _registered_circuits[name] = breaker


def sync_circuits() -> None:
    """Copy this process's breaker states into the gauges; called at scrape time and after each consumed message
    (a worker process is never scraped itself). A breaker that sees no call keeps the state it was last synced in."""
    breakers = {breaker.name: breaker for breaker in CircuitBreakerMonitor.get_circuits()} | _registered_circuits
    for name, breaker in breakers.items():
        CIRCUIT_OPEN.labels(name).set(1 if breaker.state == STATE_OPEN else 0)
        CIRCUIT_FAILURES.labels(name).set(breaker.failure_count)


@worker_process_shutdown.connect
def _forget_exited_worker_process(**_: Any) -> None:
    """A pool process that exits must not hold its last circuit state in the live gauges."""
    if MULTIPROC_DIR:
        multiprocess.mark_process_dead(os.getpid())


# --- Read live at scrape time -----------------------------------------------------------------------------------
T = TypeVar("T")


def _shared_cached(key: str, read: Callable[[], T]) -> T:
    return cache.get_or_set(f"metrics:{key}", read, LIVE_CACHE_SECONDS)


def _read_queues() -> dict[str, tuple[int, int]]:
    """``{queue: (messages ready, consumers)}`` by passive declares (which never create a queue)."""
    from tts.celery import app

    stats: dict[str, tuple[int, int]] = {}
    with app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
        channel = conn.channel()
        try:
            for name in MONITORED_QUEUES:
                try:
                    declared = contracts.declared_queue(name)(channel).queue_declare(passive=True)
                except conn.channel_errors:  # not declared yet by anyone: empty; the error closed the channel
                    stats[name] = (0, 0)
                    channel = conn.channel()
                    continue
                stats[name] = (declared.message_count, declared.consumer_count)
        finally:
            channel.close()
    return stats


def _read_database() -> dict[str, Any]:
    """Counts from the services' tables, by app label (no import of another service's code): task and assignment
    rows are never deleted, so those two totals only grow and are exposed as counters."""
    from tts_common.messaging import outbox  # here: this module is imported before Django's models are ready

    return {
        "tasks": apps.get_model("workflow_api", "Task").objects.count(),
        "assignments": apps.get_model("workflow_api", "Assignment").objects.count(),
        "email_deliveries": _count_by_status("notification_service", "EmailDelivery"),
        "email_digests": _count_by_status("notification_service", "Digest"),
        # The drain job empties the DLQ into this table every few seconds: what waits for an admin is counted here.
        "dead_letters": _count_by_status("workflow_api", "DeadLetter"),
        "outbox": outbox.backlog(),
    }


def _read_business() -> dict[str, Any]:
    """The help desk's state now: open tasks by their step's role, the oldest open task, the open task furthest past
    its deadline (clock running), and the SLA breaches and warnings so far (the report rollups' totals)."""
    task = apps.get_model("workflow_api", "Task")
    now = timezone.now()
    open_tasks = task.objects.filter(status__in=task.OPEN_STATUSES)
    by_role = open_tasks.values_list("current_step__role__name").annotate(n=Count("pk")).order_by()
    oldest = open_tasks.aggregate(at=Min("created_at"))["at"]
    overdue = task.objects.filter(status__in=["pending", "in_progress"], sla_deadline__lt=now).aggregate(
        n=Count("pk"), at=Min("sla_deadline")
    )
    totals: dict[str, int] = {}
    for model_name in ("ReportBucket", "ReportDelta"):
        rows = apps.get_model("workflow_api", model_name).objects.filter(kind__in=["breached", "warned"])
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


def _count_by_status(app_label: str, model_name: str) -> dict[str, int]:
    rows = apps.get_model(app_label, model_name).objects.values_list("status").annotate(n=Count("id")).order_by()
    return dict(rows)


class LiveCollector(Collector):
    """The figures read at scrape time; a source that cannot be read reports ``tts_metrics_source_up 0``."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("tts_metrics_source_up", "1 if the source could be read now.", labels=["source"])
        yield from self._source("broker", _read_queues, self._queue_metrics, up)
        yield from self._source("database", _read_database, self._database_metrics, up)
        yield from self._source("business", _read_business, _business_metrics, up)
        yield up

    @staticmethod
    def _source(
        name: str, read: Callable[[], T], to_metrics: Callable[[T], Iterator[Metric]], up: GaugeMetricFamily
    ) -> Iterator[Metric]:
        try:
            value = _shared_cached(name, read)
        except Exception:  # an unreadable source is itself the figure to report; the scrape goes on
            logger.warning("metrics source unreadable", extra={"operation": "metrics", "source": name}, exc_info=True)
            up.add_metric([name], 0)
            return
        up.add_metric([name], 1)
        yield from to_metrics(value)

    @staticmethod
    def _queue_metrics(stats: dict[str, tuple[int, int]]) -> Iterator[Metric]:
        depth = GaugeMetricFamily("tts_queue_messages", "Messages ready in the queue.", labels=["queue"])
        consumers = GaugeMetricFamily("tts_queue_consumers", "Consumers attached to the queue.", labels=["queue"])
        for queue, (messages, attached) in stats.items():
            depth.add_metric([queue], messages)
            consumers.add_metric([queue], attached)
        yield depth
        yield consumers

    @staticmethod
    def _database_metrics(counts: dict[str, Any]) -> Iterator[Metric]:
        yield CounterMetricFamily("tts_tasks_created", "Tasks created (tickets ingested).", value=counts["tasks"])
        yield CounterMetricFamily("tts_assignments", "Task assignments made.", value=counts["assignments"])
        yield _by_status("tts_email_deliveries", "Email deliveries by status.", counts["email_deliveries"],
                         apps.get_model("notification_service", "EmailDelivery").Status.values)
        yield _by_status("tts_email_digests", "Daily digest emails by status.", counts["email_digests"],
                         apps.get_model("notification_service", "Digest").Status.values)
        yield _by_status("tts_dead_letters", "Dead letters taken from the DLQ, by status (pending = awaiting an admin).",
                         counts["dead_letters"], apps.get_model("workflow_api", "DeadLetter").Status.values)
        waiting, oldest_age = counts["outbox"]
        yield GaugeMetricFamily("tts_outbox_messages", "Messages in the outbox: committed, not yet confirmed by the "
                                "broker (the relay publishes those a dead process or a refusing broker left).", value=waiting)
        yield GaugeMetricFamily("tts_outbox_oldest_age_seconds", "Age of the oldest message in the outbox (0 when it "
                                "is empty).", value=oldest_age or 0)


def _business_metrics(figures: dict[str, Any]) -> Iterator[Metric]:
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


def _by_status(name: str, documentation: str, counts: dict[str, int], statuses: list[str]) -> GaugeMetricFamily:
    """Every status is reported, 0 included, so that an alert on one status has a series to read."""
    family = GaugeMetricFamily(name, documentation, labels=["status"])
    for status in statuses:
        family.add_metric([status], counts.get(status, 0))
    return family


_LIVE_REGISTRY = CollectorRegistry(auto_describe=False)
_LIVE_REGISTRY.register(LiveCollector())


def exposition() -> bytes:
    """Every metric in the Prometheus text format."""
    sync_circuits()
    if MULTIPROC_DIR:
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    return generate_latest(counted) + generate_latest(_LIVE_REGISTRY)


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Unprotected as such: routed behind :func:`tts_common.http.security.require_service_key`."""
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
