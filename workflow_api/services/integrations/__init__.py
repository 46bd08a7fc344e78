"""Calls to AMS and BMS, each through its circuit breaker, with every call's outcome recorded for the health page.

Breakers are per process (``circuitbreaker`` keeps its state in memory): each worker process counts its own
failures and opens its own circuit. The health table records the state the last caller saw, which the retry scan
reads so that it waits out an open circuit deployment-wide.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from circuitbreaker import STATE_OPEN, CircuitBreaker
from django.conf import settings
from django.utils import timezone

from tts_common.base import metrics
from workflow_api.models import ExternalAction
from workflow_api.services.integrations.ams import AmsClient
from workflow_api.services.integrations.base import (
    AmsReservation,
    BudgetCheck,
    Decision,
    ExternalRequest,
    IntegrationFailure,
    IntegrationUnavailable,
)
from workflow_api.services.integrations.bms import BmsClient
from workflow_api.services.integrations.health import record_call

__all__ = [
    "AmsReservation", "BudgetCheck", "Decision", "ExternalRequest", "IntegrationFailure", "INTEGRATION_OF", "decide",
    "is_configured", "reset_circuits",
]  # fmt: skip

# The integration (health row, breaker, metrics label) each external action calls.
INTEGRATION_OF: dict[str, str] = {ExternalAction.AMS_RESERVE: "ams", ExternalAction.BMS_BUDGET_CHECK: "bms"}


# The settings each integration needs; unset, its calls fail at once (pending external approval, no call made).
REQUIRED_SETTINGS: dict[str, tuple[str, ...]] = {"ams": ("AMS_URL",), "bms": ("BMS_URL", "BMS_TOKEN_URL")}


def is_configured(integration: str) -> bool:
    return all(getattr(settings, name) for name in REQUIRED_SETTINGS[integration])


class CircuitOpen(IntegrationFailure):
    """The breaker is open: the call was not made."""


_breakers: dict[str, CircuitBreaker] = {}
_clients: dict[str, Callable[[Any], Decision]] = {}  # AmsClient.reserve, BmsClient.check_budget


def _breaker(integration: str) -> CircuitBreaker:
    breaker = _breakers.get(integration)
    if breaker is None:
        breaker = CircuitBreaker(
            failure_threshold=settings.CIRCUIT_FAILURE_THRESHOLD,
            recovery_timeout=settings.CIRCUIT_RECOVERY_SECONDS,
            expected_exception=IntegrationUnavailable,  # a refusal or a rejection is no sign of an outage
            name=integration,
        )
        metrics.register_circuit(integration, breaker)
        _breakers[integration] = breaker
    return breaker


def _client(action: str) -> Callable[[Any], Decision]:
    if action not in _clients:
        _clients[action] = AmsClient().reserve if action == ExternalAction.AMS_RESERVE else BmsClient().check_budget
    return _clients[action]


def reset_circuits() -> None:
    """Forget this process's breakers and clients (and BMS's token), so the next call builds them from the current
    settings: for tests, which change the thresholds and URLs."""
    _breakers.clear()
    _clients.clear()


def decide(action: str, request: ExternalRequest) -> Decision:
    """The outside system's decision for ``action``; raises :class:`IntegrationFailure` when there is none (open
    circuit included). Every call, and every call the open circuit refused, is recorded in the health table."""
    integration = INTEGRATION_OF[action]
    if not is_configured(integration):
        raise IntegrationFailure(f"{integration.upper()} is not configured ({', '.join(REQUIRED_SETTINGS[integration])})")
    breaker = _breaker(integration)
    if breaker.opened:
        error = CircuitOpen(f"{integration.upper()} circuit open for {breaker.open_remaining} s more; call not made")
        record_call(integration, ok=False, latency_ms=None, error=str(error), circuit_state=STATE_OPEN,
                    open_until=timezone.now() + timedelta(seconds=max(breaker.open_remaining, 0)))  # fmt: skip
        raise error
    started = time.perf_counter()
    try:
        decision = breaker.call(_client(action), request)
    except IntegrationFailure as exc:
        _record(integration, breaker, started, error=str(exc))
        raise
    _record(integration, breaker, started, error="")
    return decision


def _record(integration: str, breaker: CircuitBreaker, started: float, *, error: str) -> None:
    state = breaker.state
    record_call(
        integration,
        ok=not error,
        latency_ms=round((time.perf_counter() - started) * 1000, 1),
        error=error,
        circuit_state=state,
        open_until=timezone.now() + timedelta(seconds=max(breaker.open_remaining, 0)) if state == STATE_OPEN else None,
    )
