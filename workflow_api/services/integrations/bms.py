"""BMS, the budget management system: ``POST {BMS_URL}/api/budget/check/`` with an OAuth 2.0 bearer token; 30 s
timeout, one retry after 5 s on an outage (DESIGN §2, issue #15). Answers ``{"approved": true, budget_line_id,
remaining_balance, approval_id, approved_by, approved_at}`` or ``{"approved": false, reason, available_amount,
rejection_code}``.

The token comes by the client-credentials grant (RFC 6749 §4.4) from ``BMS_TOKEN_URL``, the client authenticated
with HTTP Basic (§2.3.1: the scheme every token endpoint must support). There is no refresh token: the token is
cached in the process until shortly before it expires, then fetched again; a 401 from BMS drops it and fetches a new
one for one more try. That is one POST and a cache, so it is written here rather than taken from requests-oauthlib
(which would add oauthlib and still leave the 401 handling to us).
"""

from __future__ import annotations

import logging
import time

import requests
from django.conf import settings

from workflow_api.services.integrations.base import (
    BudgetCheck,
    Decision,
    IntegrationFailure,
    IntegrationUnavailable,
    json_object,
    post_json,
    refused,
)

logger = logging.getLogger(__name__)

SYSTEM = "BMS"
TOKEN_SYSTEM = "BMS token endpoint"
CHECK_PATH = "/api/budget/check/"
# A token is used until this many seconds before it expires, so that it never expires in flight.
TOKEN_EXPIRY_MARGIN_SECONDS = 30
DEFAULT_TOKEN_SECONDS = 300  # when the token endpoint does not say


class BmsClient:
    def __init__(self) -> None:
        self._session = requests.Session()
        self._token = ""
        self._token_expires = 0.0  # time.monotonic()

    def check_budget(self, request: BudgetCheck) -> Decision:
        try:
            return self._check_refreshing_token(request)
        except IntegrationUnavailable as exc:
            logger.warning(
                "BMS unavailable; retrying once",
                extra={"operation": "bms.check", "error": str(exc), "delay_s": settings.BMS_RETRY_DELAY_SECONDS},
            )
            time.sleep(settings.BMS_RETRY_DELAY_SECONDS)
            return self._check_refreshing_token(request)

    def _check_refreshing_token(self, request: BudgetCheck) -> Decision:
        response = self._post_check(request)
        if response.status_code == 401:  # revoked or expired early: one fresh token, one more try
            self._token = ""
            response = self._post_check(request)
        if response.status_code >= 300:
            raise refused(response, SYSTEM)
        body = json_object(response, SYSTEM)
        approved = body.get("approved")
        if approved is True and body.get("approval_id") not in (None, ""):
            return Decision(approved=True, reference=str(body["approval_id"]), answer=body)
        if approved is False:
            return Decision(approved=False, reason=str(body.get("reason") or "Rejected by BMS"), answer=body)
        raise IntegrationFailure("BMS answered neither an approval (with its approval_id) nor a rejection")

    def _post_check(self, request: BudgetCheck) -> requests.Response:
        return post_json(
            self._session,
            SYSTEM,
            settings.BMS_URL.rstrip("/") + CHECK_PATH,
            timeout=settings.BMS_TIMEOUT_SECONDS,
            headers={"Authorization": f"Bearer {self._access_token()}", "Idempotency-Key": request.idempotency_key},
            json=request.body(),
        )

    def _access_token(self) -> str:
        if self._token and time.monotonic() < self._token_expires:
            return self._token
        response = post_json(
            self._session,
            TOKEN_SYSTEM,
            settings.BMS_TOKEN_URL,
            timeout=settings.BMS_TIMEOUT_SECONDS,
            headers={"Accept": "application/json"},
            auth=(settings.BMS_CLIENT_ID, settings.BMS_CLIENT_SECRET),
            data={"grant_type": "client_credentials"},
        )
        if response.status_code >= 300:
            raise refused(response, TOKEN_SYSTEM)
        body = json_object(response, TOKEN_SYSTEM)
        if not isinstance(body.get("access_token"), str) or not body["access_token"]:
            raise IntegrationFailure("BMS token endpoint answered without an access_token")
        lifetime = body.get("expires_in")
        lifetime = (
            float(lifetime)
            if isinstance(lifetime, int | float) and not isinstance(lifetime, bool)
            else DEFAULT_TOKEN_SECONDS
        )
        self._token = body["access_token"]
        self._token_expires = time.monotonic() + max(0.0, lifetime - TOKEN_EXPIRY_MARGIN_SECONDS)
        return self._token
