"""What both outside-system clients share: the request they send, the decision they return, how they fail, and the
HTTP call with its failure mapping."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

import requests

from tts_common import json_input


@dataclass(frozen=True)
class ExternalRequest:
    """The body sent to AMS and BMS (README: "AMS and BMS"). ``request_id`` is the same for every redelivery of
    one attempt, so the outside system can make the call idempotent."""

    request_id: str  # "<task_id>:<attempt>"
    task_id: str
    ticket_id: str
    title: str
    priority: str
    department: str
    requester_name: str
    requester_email: str
    requested_by: str  # the approver whose approval waits on this check
    asset: str | None  # ticket_data["asset"], when the ticket names one
    amount: str | None  # ticket_data["amount"], as a decimal string, when present

    def body(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Decision:
    """The outside system answered: approved (with its reference) or rejected (with its reason)."""

    approved: bool
    reference: str = ""
    reason: str = ""


class IntegrationFailure(Exception):
    """No decision (the task waits in pending external approval): not configured, refused our request, answered
    nonsense, or the circuit is open. Does not count toward opening the circuit."""


class IntegrationUnavailable(IntegrationFailure):
    """Timeout, connection error or 5xx: the system is down or overloaded. Counts toward opening the circuit."""


def decimal_text(value: Any) -> str | None:
    """An amount from a ticket as a plain decimal string (``None`` if absent or not a number)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        return None
    return f"{amount:f}" if amount.is_finite() else None


def post_json(
    session: requests.Session, system: str, url: str, *, timeout: float, headers: dict[str, str], **body: Any
) -> requests.Response:
    """POST (``json=`` or ``data=``) and map transport failures and 5xx to :class:`IntegrationUnavailable`; any other
    status is the caller's to read."""
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
