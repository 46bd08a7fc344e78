"""AMS, the asset management system: ``POST {AMS_URL}/api/assets/reserve/`` with ``X-API-Key``; 30 s timeout, no
retry (DESIGN §2, issue #15). Answers 200 ``{reservation_id, status: "confirmed", asset_id, valid_until,
asset_details: {name, model, serial}}``, or 400 ``{error, available_alternatives: [...]}`` when the asset is not
available; any other 4xx is a refusal (for an admin)."""

from __future__ import annotations

from typing import Any

import requests
from django.conf import settings

from workflow_api.services.integrations.base import (
    AmsReservation,
    Decision,
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

    def reserve(self, request: AmsReservation) -> Decision:
        response = post_json(
            self._session,
            SYSTEM,
            settings.AMS_URL.rstrip("/") + RESERVE_PATH,
            timeout=settings.AMS_TIMEOUT_SECONDS,
            headers={"X-API-Key": settings.AMS_API_KEY, "Idempotency-Key": request.idempotency_key},
            json=request.body(),
        )
        if response.status_code == 400:
            unavailable = _unavailable(response)
            if unavailable is not None:
                return unavailable
        if response.status_code >= 300:
            raise refused(response, SYSTEM)
        body = json_object(response, SYSTEM)
        if body.get("status") != "confirmed" or not isinstance(body.get("reservation_id"), str | int):
            raise IntegrationFailure(f"AMS answered HTTP {response.status_code} without a confirmed reservation")
        return Decision(approved=True, reference=str(body["reservation_id"]), answer=body)


def _unavailable(response: requests.Response) -> Decision | None:
    """A 400 naming ``available_alternatives`` (a list of asset ids): the asset is taken, choose another."""
    try:
        body: dict[str, Any] = json_object(response, SYSTEM)
    except IntegrationFailure:
        return None
    alternatives = body.get("available_alternatives")
    if not isinstance(alternatives, list) or not all(isinstance(item, str) for item in alternatives):
        return None
    return Decision(
        approved=False,
        reason=str(body.get("error") or "Asset not available"),
        alternatives=tuple(alternatives),
        answer=body,
    )
