"""AMS and BMS clients over real HTTP against the strict local fakes (tests/stubs.py): issue #15's request shapes,
every documented answer, failures, BMS's token and retry, the circuit breaker and the health table each call
updates."""
from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
import requests

from tests.stubs import Reply
from tts_common.base import metrics
from workflow_api.models import ExternalAction, IntegrationHealth
from workflow_api.services import integrations
from workflow_api.services.integrations import AmsReservation, BudgetCheck, CircuitOpen, IntegrationFailure
from workflow_api.services.integrations.base import IntegrationUnavailable, money_text

pytestmark = pytest.mark.django_db

AMS, BMS = ExternalAction.AMS_RESERVE, ExternalAction.BMS_BUDGET_CHECK
KEY = "7d0e6a4e-0000-4000-8000-000000000001:1"
RESERVATION = AmsReservation(
    idempotency_key=KEY,
    asset_id="LAPTOP-14",
    requester_id=7,
    task_id="7d0e6a4e-0000-4000-8000-000000000001",
    duration_days=14,
    notes="For the new hire",
)
BUDGET_CHECK = BudgetCheck(
    idempotency_key=KEY,
    department="Finance",
    amount="1299.00",
    currency="PHP",
    category="Procurement",
    requester_id=7,
    justification="Laptop for the new hire",
)


def health(name: str) -> IntegrationHealth:
    return IntegrationHealth.objects.get(name=name)


# --- The fakes are strict ------------------------------------------------------------------------------------------
def test_the_fakes_refuse_any_other_shape(ams, bms, settings):
    def ams_post(body):
        return requests.post(settings.AMS_URL + "/api/assets/reserve/", json=body, headers={"X-API-Key": ams.api_key})

    good = RESERVATION.body()
    assert ams_post(good).status_code == 200
    for bad in ({**good, "asset": "X"}, {k: v for k, v in good.items() if k != "notes"}, {**good, "requester_id": "7"},
                {**good, "duration_days": True}, {**good, "duration_days": 0}, [good]):  # fmt: skip
        assert ams_post(bad).status_code == 400, bad
    token = requests.post(
        settings.BMS_TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(bms.client_id, bms.client_secret)
    ).json()["access_token"]

    def bms_post(body):
        return requests.post(settings.BMS_URL + "/api/budget/check/", json=body, headers={"Authorization": f"Bearer {token}"})

    good = BUDGET_CHECK.body()
    assert bms_post(good).status_code == 200
    for bad in ({**good, "title": "x"}, {k: v for k, v in good.items() if k != "currency"}, {**good, "amount": 1299},
                {**good, "amount": "1299"}, {**good, "currency": "php"}, {**good, "requester_id": None}):  # fmt: skip
        assert bms_post(bad).status_code == 400, bad


# --- AMS ---------------------------------------------------------------------------------------------------------
def test_ams_reserves_with_the_api_key_and_exactly_the_specified_body(ams):
    decision = integrations.decide(AMS, RESERVATION)
    assert (decision.approved, decision.reference) == (True, "RES-1")
    assert decision.answer["status"] == "confirmed" and decision.answer["asset_id"] == "LAPTOP-14"
    assert set(decision.answer) == {"reservation_id", "status", "asset_id", "valid_until", "asset_details"}
    assert set(decision.answer["asset_details"]) == {"name", "model", "serial"}
    [received] = ams.received
    assert received.headers["X-API-Key"] == "ams-test-key" and received.headers["Idempotency-Key"] == KEY
    assert received.body == {
        "asset_id": "LAPTOP-14", "requester_id": 7, "task_id": RESERVATION.task_id, "duration_days": 14,
        "notes": "For the new hire",
    }  # fmt: skip
    assert ams.refused == []
    row = health("ams")
    assert (row.calls, row.errors, row.last_ok, row.circuit_state) == (1, 0, True, "closed")
    assert row.last_success_at is not None and row.last_latency_ms > 0


def test_ams_unavailable_asset_is_an_answer_with_alternatives(ams, settings):
    settings.CIRCUIT_FAILURE_THRESHOLD = 1
    integrations.reset_circuits()
    ams.unavailable["LAPTOP-14"] = ["ASSET-790", "ASSET-791"]
    for _ in range(2):  # an answer: it never opens the circuit
        decision = integrations.decide(AMS, RESERVATION)
        assert (decision.approved, decision.reason, decision.alternatives) == (
            False, "Asset not available", ("ASSET-790", "ASSET-791"),
        )  # fmt: skip
    assert (health("ams").errors, health("ams").circuit_state) == (0, "closed")


@pytest.mark.parametrize(
    "status, body",
    [(400, {"error": "Bad asset id"}), (404, {"detail": "no such asset"}), (409, {"error": "Asset not available"})],
)
def test_ams_other_4xx_is_a_refusal_for_an_admin(ams, status, body):
    ams.answer(status, body)
    with pytest.raises(IntegrationFailure, match=f"AMS refused the request: HTTP {status}") as caught:
        integrations.decide(AMS, RESERVATION)
    assert not isinstance(caught.value, IntegrationUnavailable)


def test_ams_success_without_a_confirmed_reservation_is_a_failure(ams):
    ams.answer(200, {"reservation_id": "RES-1", "status": "pending"})
    with pytest.raises(IntegrationFailure, match="without a confirmed reservation"):
        integrations.decide(AMS, RESERVATION)


def test_ams_timeout_is_not_retried(ams, settings):
    settings.AMS_TIMEOUT_SECONDS = 0.3
    ams.answer(200, {}, delay=1.0)
    started = time.monotonic()
    with pytest.raises(IntegrationUnavailable, match="AMS timed out after 0.3 s"):
        integrations.decide(AMS, RESERVATION)
    assert time.monotonic() - started < 0.9
    assert ams.hits == 1
    row = health("ams")
    assert (row.calls, row.errors, row.last_ok) == (1, 1, False) and "timed out" in row.last_error


def test_ams_500_is_unavailable_and_not_retried(ams):
    ams.answer(500, {"detail": "boom"})
    with pytest.raises(IntegrationUnavailable, match="HTTP 500"):
        integrations.decide(AMS, RESERVATION)
    assert ams.hits == 1


def test_ams_wrong_key_is_a_failure_that_does_not_count_toward_the_circuit(ams, settings):
    settings.AMS_API_KEY = "wrong"
    settings.CIRCUIT_FAILURE_THRESHOLD = 1
    integrations.reset_circuits()
    for _ in range(2):
        with pytest.raises(IntegrationFailure, match="AMS refused the request: HTTP 401") as caught:
            integrations.decide(AMS, RESERVATION)
        assert not isinstance(caught.value, IntegrationUnavailable)
    assert health("ams").circuit_state == "closed"


def test_an_answer_nested_past_the_json_limit_is_a_failure(ams):
    # An outside system's answer is untrusted JSON: nested past the limit it is refused like any malformed answer
    # (100k levels once raised RecursionError out of the client).
    ams.answer(200, {"reservation_id": json.loads("[" * 100 + "]" * 100)})
    with pytest.raises(IntegrationFailure, match="AMS answered HTTP 200 without JSON"):
        integrations.decide(AMS, RESERVATION)


def test_unconfigured_ams_fails_without_a_call(settings):
    settings.AMS_URL = ""
    integrations.reset_circuits()
    with pytest.raises(IntegrationFailure, match="not configured"):
        integrations.decide(AMS, RESERVATION)
    assert not IntegrationHealth.objects.filter(name="ams", errors__gt=0).exists()


# --- BMS ---------------------------------------------------------------------------------------------------------
def test_bms_approves_with_a_cached_client_credentials_token(bms):
    decision = integrations.decide(BMS, BUDGET_CHECK)
    assert (decision.approved, decision.reference) == (True, "BUD-1")
    assert set(decision.answer) == {
        "approved", "budget_line_id", "remaining_balance", "approval_id", "approved_by", "approved_at",
    }  # fmt: skip
    assert integrations.decide(BMS, BUDGET_CHECK).approved
    assert bms.tokens_issued == 1 and bms.hits == 2 and bms.refused == []
    assert bms.received[0].headers["Authorization"].startswith("Bearer ")
    assert bms.received[0].headers["Idempotency-Key"] == KEY
    assert bms.bodies[0] == {
        "department": "Finance", "amount": "1299.00", "currency": "PHP", "category": "Procurement",
        "requester_id": 7, "justification": "Laptop for the new hire",
    }  # fmt: skip


def test_bms_rejection_keeps_every_field(bms):
    bms.available = Decimal("1000.00")
    decision = integrations.decide(BMS, BUDGET_CHECK)
    assert (decision.approved, decision.reason) == (False, "Exceeds the Finance budget")
    assert decision.answer == {
        "approved": False, "reason": "Exceeds the Finance budget", "available_amount": "1000.00",
        "rejection_code": "INSUFFICIENT_FUNDS",
    }  # fmt: skip


def test_bms_fetches_a_new_token_on_401(bms):
    integrations.decide(BMS, BUDGET_CHECK)
    bms.revoke_tokens()
    assert integrations.decide(BMS, BUDGET_CHECK).approved
    assert bms.tokens_issued == 2 and bms.hits == 3 and [status for status, _ in bms.refused] == [401]


def test_bms_fetches_a_new_token_once_it_expires(bms):
    bms.token_seconds = 31  # used until 30 s before it expires: 1 s
    integrations.decide(BMS, BUDGET_CHECK)
    integrations.decide(BMS, BUDGET_CHECK)
    assert bms.tokens_issued == 1
    time.sleep(1.1)
    integrations.decide(BMS, BUDGET_CHECK)
    assert bms.tokens_issued == 2 and bms.refused == []  # fetched before BMS had to refuse it


def test_bms_retries_once_after_the_delay(bms):
    bms.then(Reply(503, {"detail": "busy"}))
    started = time.monotonic()
    assert integrations.decide(BMS, BUDGET_CHECK).approved
    assert bms.hits == 2 and time.monotonic() - started >= 0.3
    assert bms.bodies[0] == bms.bodies[1]
    assert (health("bms").calls, health("bms").errors) == (1, 0)  # one logical call, which succeeded


def test_bms_gives_up_after_one_retry(bms, settings):
    settings.BMS_TIMEOUT_SECONDS = 0.3
    bms.answer(200, {"approved": True, "approval_id": "late"}, delay=1.0)
    with pytest.raises(IntegrationUnavailable, match="BMS timed out"):
        integrations.decide(BMS, BUDGET_CHECK)
    assert bms.hits == 2
    bms.answer(500, {})
    with pytest.raises(IntegrationUnavailable, match="HTTP 500"):
        integrations.decide(BMS, BUDGET_CHECK)
    assert bms.hits == 4


def test_bms_4xx_is_a_refusal_not_retried(bms):
    bms.answer(422, {"detail": "unknown department"})
    with pytest.raises(IntegrationFailure, match="BMS refused the request: HTTP 422"):
        integrations.decide(BMS, BUDGET_CHECK)
    assert bms.hits == 1


def test_bms_bad_client_credentials_fail(bms, settings):
    settings.BMS_CLIENT_SECRET = "wrong"
    with pytest.raises(IntegrationFailure, match="BMS token endpoint refused the request: HTTP 401"):
        integrations.decide(BMS, BUDGET_CHECK)
    assert bms.hits == 0


@pytest.mark.parametrize(
    "value, text", [("1299", "1299.00"), (1299.5, "1299.50"), ("1299.125", "1299.125"), ("-1", None), ("x", None)]
)
def test_amounts_are_sent_with_two_places_at_least(value, text):
    assert money_text(value) == text


# --- The circuit breaker -------------------------------------------------------------------------------------------
def test_circuit_opens_after_the_threshold_fails_fast_and_closes_after_recovery(ams, settings):
    settings.CIRCUIT_FAILURE_THRESHOLD, settings.CIRCUIT_RECOVERY_SECONDS = 3, 1
    integrations.reset_circuits()
    ams.answer(502, {})
    for _ in range(3):
        with pytest.raises(IntegrationUnavailable):
            integrations.decide(AMS, RESERVATION)
    row = health("ams")
    assert row.circuit_state == "open" and row.circuit_open_until is not None
    with pytest.raises(CircuitOpen, match="circuit open"):
        integrations.decide(AMS, RESERVATION)
    assert ams.hits == 3  # the open circuit made no call
    assert (health("ams").calls, health("ams").errors) == (4, 4)
    assert 'tts_circuit_open{integration="ams"} 1.0' in metrics.exposition().decode()

    ams.heal()
    time.sleep(1.1)
    assert integrations.decide(AMS, RESERVATION).reference == "RES-1"  # the half-open probe
    row = health("ams")
    assert (row.circuit_state, row.circuit_open_until, row.last_ok) == ("closed", None, True)
    assert 'tts_circuit_open{integration="ams"} 0.0' in metrics.exposition().decode()


def test_rejections_do_not_open_the_circuit(bms, settings):
    settings.CIRCUIT_FAILURE_THRESHOLD = 2
    integrations.reset_circuits()
    bms.available = Decimal("0.00")
    for _ in range(3):
        assert not integrations.decide(BMS, BUDGET_CHECK).approved
    assert health("bms").circuit_state == "closed" and bms.hits == 3
