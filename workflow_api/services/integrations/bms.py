"""BMS, the budget management system: ``POST {BMS_URL}/api/budget/check/`` with an OAuth2 bearer token (client
credentials from ``BMS_TOKEN_URL``, cached until it expires, fetched again once on a 401); 30 s timeout, one retry
after 5 s on an outage (DESIGN §2). Answers ``{"approved": bool, "approval_id": ..., "reason": ...}``."""

from __future__ import annotations

import logging
import time

import requests
from django.conf import settings

from workflow_api.services.integrations.base import (
    Decision,
    ExternalRequest,
    IntegrationFailure,
    IntegrationUnavailable,
    json_object,
    post_json,
    refused,
)

logger = logging.getLogger(__name__)

SYSTEM = "BMS"
CHECK_PATH = "/api/budget/check/"
# A token is used until this many seconds before it expires, so that it never expires in flight.
TOKEN_EXPIRY_MARGIN_SECONDS = 30
DEFAULT_TOKEN_SECONDS = 300  # when the token endpoint does not say


class BmsClient:
    def __init__(self) -> None:
        self._session = requests.Session()
        self._token = ""
        self._token_expires = 0.0  # time.monotonic()

    def check_budget(self, request: ExternalRequest) -> Decision:
        try:
            return self._check_refreshing_token(request)
        except IntegrationUnavailable as exc:
            logger.warning(
                "BMS unavailable; retrying once",
                extra={"operation": "bms.check", "error": str(exc), "delay_s": settings.BMS_RETRY_DELAY_SECONDS},
            )
            time.sleep(settings.BMS_RETRY_DELAY_SECONDS)
            return self._check_refreshing_token(request)

    def _check_refreshing_token(self, request: ExternalRequest) -> Decision:
        response = self._post_check(request)
        if response.status_code == 401:  # revoked or expired early: one fresh token, one more try
            self._token = ""
            response = self._post_check(request)
        if response.status_code >= 400:
            raise refused(response, SYSTEM)
        body = json_object(response, SYSTEM)
        approved = body.get("approved")
        if approved is True:
            return Decision(approved=True, reference=str(body.get("approval_id") or ""))
        if approved is False:
            return Decision(approved=False, reason=str(body.get("reason") or "Rejected by BMS"))
        raise IntegrationFailure("BMS answered without a boolean 'approved'")

    def _post_check(self, request: ExternalRequest) -> requests.Response:
        return post_json(
            self._session,
            SYSTEM,
            settings.BMS_URL.rstrip("/") + CHECK_PATH,
            timeout=settings.BMS_TIMEOUT_SECONDS,
            headers={"Authorization": f"Bearer {self._access_token()}", "Idempotency-Key": request.request_id},
            json=request.body(),
        )

    def _access_token(self) -> str:
        if self._token and time.monotonic() < self._token_expires:
            return self._token
        response = post_json(
            self._session,
            f"{SYSTEM} token endpoint",
            settings.BMS_TOKEN_URL,
            timeout=settings.BMS_TIMEOUT_SECONDS,
            headers={},
            data={
                "grant_type": "client_credentials",
                "client_id": settings.BMS_CLIENT_ID,
                "client_secret": settings.BMS_CLIENT_SECRET,
            },
        )
        if response.status_code >= 400:
            raise refused(response, f"{SYSTEM} token endpoint")
        body = json_object(response, f"{SYSTEM} token endpoint")
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
