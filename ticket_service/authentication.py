"""Who may submit HDTS tickets: a user whose JWT carries an HDTS role (or an admin), or HDTS itself with a request
signed per DESIGN §3 (headers ``X-HDTS-Signature`` and ``X-HDTS-Signed-At``)."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed, ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from tts_common.base import signing
from tts_common.http.auth import is_admin

HDTS_SYSTEM = "HDTS"
SIGNATURE_HEADER = "X-HDTS-Signature"
SIGNED_AT_HEADER = "X-HDTS-Signed-At"


class HdtsSystemPrincipal:
    """The caller of a correctly signed request: HDTS itself, not a person."""

    is_authenticated = True
    is_admin = False
    id = None
    username = "hdts"
    roles: dict[str, list[str]] = {}


class HdtsSignatureAuthentication(BaseAuthentication):
    """Verifies the body's HMAC; a request without the signature headers is left to the next authenticator."""

    def authenticate(self, request: Request) -> tuple[HdtsSystemPrincipal, None] | None:
        signature = request.headers.get(SIGNATURE_HEADER)
        signed_at = request.headers.get(SIGNED_AT_HEADER)
        if signature is None and signed_at is None:
            return None
        secret = settings.HDTS_SIGNING_SECRET
        if not secret:
            raise AuthenticationFailed("Signed requests are not enabled on this server.", code="signing_disabled")
        try:
            signing.verify(
                secret, signature, signed_at, request.data, max_age_seconds=signing.DEFAULT_MAX_AGE_SECONDS
            )
        except signing.MalformedSignedAt as exc:
            raise ValidationError({SIGNED_AT_HEADER: [f"{exc}."]}) from exc
        except signing.StaleSignature as exc:
            raise AuthenticationFailed(f"Stale or replayed request: {exc}.", code="stale_signature") from exc
        except signing.SignatureError as exc:
            raise AuthenticationFailed(f"Invalid signature: {exc}.", code="invalid_signature") from exc
        return HdtsSystemPrincipal(), None

    def authenticate_header(self, request: Request) -> str:
        return 'HDTS-Signature realm="tts"'


class HdtsSignatureScheme(OpenApiAuthenticationExtension):
    """Documents the signed-request scheme in the OpenAPI document."""

    target_class = HdtsSignatureAuthentication
    name = "hdtsSignature"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": SIGNATURE_HEADER,
            "description": f"hex HMAC-SHA256(HDTS_SIGNING_SECRET, f'{{signed_at}}.{{canonical body JSON}}'), with "
            f"{SIGNED_AT_HEADER}: Unix seconds, at most 5 minutes old.",
        }


class CanSubmitTickets(BasePermission):
    """HDTS (signed) may only submit; users with an HDTS role and admins may submit and read."""

    message = "An HDTS role or administrator access is required."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if isinstance(user, HdtsSystemPrincipal):
            return request.method == "POST"
        return bool(
            user and user.is_authenticated and (is_admin(user) or getattr(user, "roles", {}).get(HDTS_SYSTEM))
        )
