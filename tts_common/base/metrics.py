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
  deliveries by status, open tasks and SLA breaches): a passive queue declare on the broker and database counts,
  correct however many processes run. Each owner registers its own (:func:`register_live_source`: the services their
  tables, tts_common.messaging the broker and the outbox), so that this module reads no service's tables. They are cached in the shared Django cache for a few seconds, so that many replicas scraped at once cost the
  broker and the database one read. Every replica reports them: aggregate with ``max by (queue)`` (as
  ``ops/prometheus/alerts.yml`` does), never ``sum``.

Importable before Django's apps are loaded: the logging configuration imports it (through tts_common.base.logging).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar, cast

from celery.signals import worker_process_shutdown
from circuitbreaker import STATE_OPEN, CircuitBreaker, CircuitBreakerMonitor
from django.core.cache import cache
from django.db.models import Count, Model
from django.http import HttpRequest, HttpResponse
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
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tts_common import contracts

logger = logging.getLogger(__name__)

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if MULTIPROC_DIR:  # prometheus_client writes there from the first sample on, and does not create it
    os.makedirs(MULTIPROC_DIR, exist_ok=True)

# Seconds a live reading is reused: below Prometheus' usual 15 s scrape interval, so each scrape is fresh enough.
LIVE_CACHE_SECONDS = 5

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
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


# --- Read live at scrape time -----------------------------------------------------------------------------------
T = TypeVar("T")


def _shared_cached(key: str, read: Callable[[], T]) -> T:
    return cast(T, cache.get_or_set(f"metrics:{key}", read, LIVE_CACHE_SECONDS))


@dataclass(frozen=True, slots=True)
class LiveSource(Generic[T]):
    """Figures read at scrape time from one source, reported as ``tts_metrics_source_up{source=name}``: ``read``
    runs at most once per LIVE_CACHE_SECONDS for all replicas (its result is kept in the shared cache, so it must
    pickle) and ``to_metrics`` turns its result into metric families."""

    name: str
    read: Callable[[], T]
    to_metrics: Callable[[T], Iterable[Metric]]


_live_sources: dict[str, LiveSource[Any]] = {}


def register_live_source(name: str, read: Callable[[], T], to_metrics: Callable[[T], Iterable[Metric]]) -> None:
    """Report ``read``'s figures at each scrape. Whoever owns the figures registers them, from its app's
    ``AppConfig.ready`` (each service its own tables, tts_common the broker and the outbox), so that this module
    reads no one's tables; registering a name again replaces its source."""
    _live_sources[name] = LiveSource(name, read, to_metrics)


class LiveCollector(Collector):
    """The registered live sources; a source that cannot be read reports ``tts_metrics_source_up 0``."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("tts_metrics_source_up", "1 if the source could be read now.", labels=["source"])
        for source in list(_live_sources.values()):
            yield from self._source(source, up)
        yield up

    @staticmethod
    def _source(source: LiveSource[Any], up: GaugeMetricFamily) -> Iterator[Metric]:
        try:
            value = _shared_cached(source.name, source.read)
        except Exception:  # an unreadable source is itself the figure to report; the scrape goes on
            logger.warning(
                "metrics source unreadable", extra={"operation": "metrics", "source": source.name}, exc_info=True
            )
            up.add_metric([source.name], 0)
            return
        up.add_metric([source.name], 1)
        yield from source.to_metrics(value)


def count_by_status(model: type[Model]) -> dict[str, int]:
    """``{status: rows}`` of a table with a ``status`` column (statuses without rows are absent)."""
    return dict(model._default_manager.values_list("status").annotate(n=Count("pk")).order_by())


def by_status(name: str, documentation: str, counts: dict[str, int], statuses: Iterable[str]) -> GaugeMetricFamily:
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
        multiprocess.MultiProcessCollector(counted)  # type: ignore[no-untyped-call]
    else:
        counted = REGISTRY
    return generate_latest(counted) + generate_latest(_LIVE_REGISTRY)


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Unprotected as such: routed behind :func:`tts_common.http.security.require_service_key`."""
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
