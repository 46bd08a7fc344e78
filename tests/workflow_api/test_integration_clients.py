"""AMS and BMS clients over real HTTP against local stubs: answers, failures, BMS's token and retry, the circuit
breaker and the health table each call updates."""
from __future__ import annotations

import json
import time

import pytest

from tests.stubs import Reply
from tts_common import metrics
from workflow_api.models import ExternalAction, IntegrationHealth
from workflow_api.services import integrations
from workflow_api.services.integrations import CircuitOpen, Decision, ExternalRequest, IntegrationFailure
from workflow_api.services.integrations.base import IntegrationUnavailable

pytestmark = pytest.mark.django_db

AMS, BMS = ExternalAction.AMS_RESERVE, ExternalAction.BMS_BUDGET_CHECK
REQUEST = ExternalRequest(
    request_id="7d0e6a4e-0000-4000-8000-000000000001:1",
    task_id="7d0e6a4e-0000-4000-8000-000000000001",
    ticket_id="HD-1",
    title="Laptop for new hire",
    priority="high",
    department="Finance",
    requester_name="Pat",
    requester_email="pat@example.com",
    requested_by="budget1",
    asset="LAPTOP-14",
    amount="1299.00",
)


def health(name: str) -> IntegrationHealth:
    return IntegrationHealth.objects.get(name=name)


# --- AMS ---------------------------------------------------------------------------------------------------------
def test_ams_reserves_with_the_api_key_and_the_request_body(ams):
    assert integrations.decide(AMS, REQUEST) == Decision(approved=True, reference="RES-1")
    [received] = ams.received
    assert received.headers["X-API-Key"] == "ams-test-key"
    assert received.headers["Idempotency-Key"] == REQUEST.request_id
    assert received.body == REQUEST.body() and received.body["asset"] == "LAPTOP-14"
    row = health("ams")
    assert (row.calls, row.errors, row.last_ok, row.circuit_state) == (1, 0, True, "closed")
    assert row.last_success_at is not None and row.last_latency_ms > 0


def test_ams_rejection_is_a_decision_not_a_failure(ams):
    ams.answer(200, {"status": "rejected", "reason": "No laptops in stock"})
    assert integrations.decide(AMS, REQUEST) == Decision(approved=False, reason="No laptops in stock")
    assert (health("ams").calls, health("ams").errors) == (1, 0)


def test_ams_timeout_is_not_retried(ams, settings):
    settings.AMS_TIMEOUT_SECONDS = 0.3
    ams.answer(201, {"reservation_id": "late"}, delay=1.0)
    started = time.monotonic()
    with pytest.raises(IntegrationUnavailable, match="AMS timed out after 0.3 s"):
        integrations.decide(AMS, REQUEST)
    assert time.monotonic() - started < 0.9
    assert ams.hits == 1
    row = health("ams")
    assert (row.calls, row.errors, row.last_ok) == (1, 1, False) and "timed out" in row.last_error


def test_ams_500_is_unavailable_and_not_retried(ams):
    ams.answer(500, {"detail": "boom"})
    with pytest.raises(IntegrationUnavailable, match="HTTP 500"):
        integrations.decide(AMS, REQUEST)
    assert ams.hits == 1


def test_ams_wrong_key_is_a_failure_that_does_not_count_toward_the_circuit(ams, settings):
    settings.AMS_API_KEY = "wrong"
    settings.CIRCUIT_FAILURE_THRESHOLD = 1
    integrations.reset_circuits()
    for _ in range(2):
        with pytest.raises(IntegrationFailure, match="AMS refused the request: HTTP 401") as caught:
            integrations.decide(AMS, REQUEST)
        assert not isinstance(caught.value, IntegrationUnavailable)
    assert health("ams").circuit_state == "closed"


def test_an_answer_nested_past_the_json_limit_is_a_failure(ams):
    # An outside system's answer is untrusted JSON: nested past the limit it is refused like any malformed answer
    # (100k levels once raised RecursionError out of the client).
    ams.answer(201, {"reservation_id": json.loads("[" * 100 + "]" * 100)})
    with pytest.raises(IntegrationFailure, match="AMS answered HTTP 201 without JSON"):
        integrations.decide(AMS, REQUEST)


def test_unconfigured_ams_fails_without_a_call(settings):
    settings.AMS_URL = ""
    integrations.reset_circuits()
    with pytest.raises(IntegrationFailure, match="not configured"):
        integrations.decide(AMS, REQUEST)
    assert not IntegrationHealth.objects.filter(name="ams", errors__gt=0).exists()


# --- BMS ---------------------------------------------------------------------------------------------------------
def test_bms_approves_with_a_cached_bearer_token(bms):
    assert integrations.decide(BMS, REQUEST) == Decision(approved=True, reference="BUD-1")
    assert integrations.decide(BMS, REQUEST).approved
    assert bms.tokens_issued == 1 and bms.hits == 2
    assert bms.received[0].headers["Authorization"].startswith("Bearer ")
    assert bms.received[0].body["amount"] == "1299.00"


def test_bms_rejection_carries_the_reason(bms):
    bms.answer(200, {"approved": False, "approval_id": None, "reason": "Over the department budget"})
    assert integrations.decide(BMS, REQUEST) == Decision(approved=False, reason="Over the department budget")


def test_bms_refreshes_its_token_once_on_401(bms):
    integrations.decide(BMS, REQUEST)
    bms.revoke_tokens()
    assert integrations.decide(BMS, REQUEST).approved
    assert bms.tokens_issued == 2 and bms.hits == 2  # the 401 was answered before the check was recorded


def test_bms_retries_once_after_the_delay(bms):
    bms.then(Reply(503, {"detail": "busy"}))
    started = time.monotonic()
    assert integrations.decide(BMS, REQUEST).approved
    assert bms.hits == 2 and time.monotonic() - started >= 0.3
    assert (health("bms").calls, health("bms").errors) == (1, 0)  # one logical call, which succeeded


def test_bms_gives_up_after_one_retry(bms, settings):
    settings.BMS_TIMEOUT_SECONDS = 0.3
    bms.answer(200, {"approved": True, "approval_id": "late"}, delay=1.0)
    with pytest.raises(IntegrationUnavailable, match="BMS timed out"):
        integrations.decide(BMS, REQUEST)
    assert bms.hits == 2
    bms.answer(500, {})
    with pytest.raises(IntegrationUnavailable, match="HTTP 500"):
        integrations.decide(BMS, REQUEST)
    assert bms.hits == 4


def test_bms_bad_client_credentials_fail(bms, settings):
    settings.BMS_CLIENT_SECRET = "wrong"
    with pytest.raises(IntegrationFailure, match="BMS token endpoint refused the request: HTTP 401"):
        integrations.decide(BMS, REQUEST)
    assert bms.hits == 0


# --- The circuit breaker -------------------------------------------------------------------------------------------
def test_circuit_opens_after_the_threshold_fails_fast_and_closes_after_recovery(ams, settings):
    settings.CIRCUIT_FAILURE_THRESHOLD, settings.CIRCUIT_RECOVERY_SECONDS = 3, 1
    integrations.reset_circuits()
    ams.answer(502, {})
    for _ in range(3):
        with pytest.raises(IntegrationUnavailable):
            integrations.decide(AMS, REQUEST)
    row = health("ams")
    assert row.circuit_state == "open" and row.circuit_open_until is not None
    with pytest.raises(CircuitOpen, match="circuit open"):
        integrations.decide(AMS, REQUEST)
    assert ams.hits == 3  # the open circuit made no call
    assert (health("ams").calls, health("ams").errors) == (4, 4)
    assert 'tts_circuit_open{integration="ams"} 1.0' in metrics.exposition().decode()

    ams.answer(201, {"reservation_id": "RES-9"})
    time.sleep(1.1)
    assert integrations.decide(AMS, REQUEST) == Decision(approved=True, reference="RES-9")  # the half-open probe
    row = health("ams")
    assert (row.circuit_state, row.circuit_open_until, row.last_ok) == ("closed", None, True)
    assert 'tts_circuit_open{integration="ams"} 0.0' in metrics.exposition().decode()


def test_rejections_do_not_open_the_circuit(ams, settings):
    settings.CIRCUIT_FAILURE_THRESHOLD = 2
    integrations.reset_circuits()
    ams.answer(200, {"status": "rejected", "reason": "no"})
    for _ in range(3):
        assert not integrations.decide(AMS, REQUEST).approved
    assert health("ams").circuit_state == "closed" and ams.hits == 3
