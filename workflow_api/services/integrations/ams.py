"""AMS, the asset management system: ``POST {AMS_URL}/api/assets/reserve/`` with ``X-API-Key``; 30 s timeout, no
retry (DESIGN §2). Answers ``{"reservation_id": ...}`` (reserved) or ``{"status": "rejected", "reason": ...}``."""

from __future__ import annotations

import requests
from django.conf import settings

from workflow_api.services.integrations.base import (
    Decision,
    ExternalRequest,
    IntegrationFailure,
    json_object,
    post_json,
    refused,
)

SYSTEM = "AMS"
RESERVE_PATH = "/api/assets/reserve/"


class AmsClient:
    def __init__(self) -> None:
        self._session = requests.Session()

    def reserve(self, request: ExternalRequest) -> Decision:
        response = post_json(
            self._session,
            SYSTEM,
            settings.AMS_URL.rstrip("/") + RESERVE_PATH,
            timeout=settings.AMS_TIMEOUT_SECONDS,
            headers={"X-API-Key": settings.AMS_API_KEY, "Idempotency-Key": request.request_id},
            json=request.body(),
        )
        if response.status_code >= 400 and response.status_code not in (409, 422):
            raise refused(response, SYSTEM)
        body = json_object(response, SYSTEM)
        if body.get("status") == "rejected":
            return Decision(approved=False, reason=str(body.get("reason") or "Rejected by AMS"))
        if response.status_code < 300 and body.get("reservation_id") not in (None, ""):
            return Decision(approved=True, reference=str(body["reservation_id"]))
        raise IntegrationFailure(f"AMS answered HTTP {response.status_code} with neither a reservation nor a rejection")
