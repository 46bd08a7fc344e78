"""What both outside-system clients share: the requests they send (issue #15's shapes, exactly), the decision they
return, how they fail, and the HTTP call with its failure mapping."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

import requests

from tts_common.base import json_input


@dataclass(frozen=True)
class AmsReservation:
    """``POST /api/assets/reserve/``'s body, plus the ``Idempotency-Key`` header's value."""

    idempotency_key: str  # "<task_id>:<attempt>": the same for every redelivery of one attempt
    asset_id: str
    requester_id: int  # the user whose decision triggered the call
    task_id: str
    duration_days: int
    notes: str  # the approver's notes

    def body(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if key != "idempotency_key"}


@dataclass(frozen=True)
class BudgetCheck:
    """``POST /api/budget/check/``'s body, plus the ``Idempotency-Key`` header's value."""

    idempotency_key: str
    department: str
    amount: str  # decimal, at least two places: "1299.00"
    currency: str  # ISO 4217
    category: str
    requester_id: int
    justification: str

    def body(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if key != "idempotency_key"}


ExternalRequest = AmsReservation | BudgetCheck


@dataclass(frozen=True)
class Decision:
    """The outside system answered: approved (with its reference), rejected (with its reason), or, from AMS, the
    asset is not available (``alternatives``: what it offers instead; someone must choose). ``answer`` is the
    system's whole answer, stored on the task."""

    approved: bool
    reference: str = ""
    reason: str = ""
    alternatives: tuple[str, ...] | None = None
    answer: dict[str, Any] = field(default_factory=dict, compare=False)


class IntegrationFailure(Exception):
    """No decision (the task waits in pending external approval): not configured, refused our request, answered
    nonsense, or the circuit is open. Does not count toward opening the circuit."""


class IntegrationUnavailable(IntegrationFailure):
    """Timeout, connection error or 5xx: the system is down or overloaded. Counts toward opening the circuit."""


def money_text(value: Any) -> str | None:
    """An amount from a ticket as a decimal string with at least two places ("1299" -> "1299.00"); ``None`` if
    absent, not a number or negative."""
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        return None
    if not amount.is_finite() or amount < 0:
        return None
    exponent = amount.as_tuple().exponent  # an int: the amount is finite
    if isinstance(exponent, int) and exponent > -2:
        amount = amount.quantize(Decimal("0.01"))
    return f"{amount:f}"


def post_json(
    session: requests.Session, system: str, url: str, *, timeout: float, headers: dict[str, str], **body: Any
) -> requests.Response:
    """POST (``json=`` or ``data=``, any other ``requests`` argument too) and map transport failures and 5xx to
    :class:`IntegrationUnavailable`; any other status is the caller's to read."""
    try:
        response = session.post(url, timeout=timeout, headers=headers, **body)
    except requests.Timeout as exc:
        raise IntegrationUnavailable(f"{system} timed out after {timeout:g} s") from exc
    except requests.RequestException as exc:
        raise IntegrationUnavailable(f"{system} unreachable: {type(exc).__name__}") from exc
    if response.status_code >= 500:
        raise IntegrationUnavailable(f"{system} answered HTTP {response.status_code}")
    return response


def json_object(response: requests.Response, system: str) -> dict[str, Any]:
    try:
        body = json_input.loads(response.content)
    except ValueError as exc:
        raise IntegrationFailure(f"{system} answered HTTP {response.status_code} without JSON") from exc
    if not isinstance(body, dict):
        raise IntegrationFailure(f"{system} answered HTTP {response.status_code} with a non-object")
    return body


def refused(response: requests.Response, system: str) -> IntegrationFailure:
    """A 4xx we cannot act on (bad key, bad request): a failure for an admin, not an outage."""
    detail = response.text[:200].strip()
    return IntegrationFailure(
        f"{system} refused the request: HTTP {response.status_code}" + (f" {detail}" if detail else "")
    )
