"""JWT verification shared by every service: tokens are checked locally with the shared key, no call per request.

A token carries ``user_id``, ``username``, ``roles`` ({system: [role name, ...]}), ``is_admin`` and ``permissions``
(the user's effective permissions, :mod:`tts_common.base.permissions`).
"""
from __future__ import annotations

import asyncio
import time
from typing import Any, cast
from urllib.parse import parse_qs

from django.conf import settings
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.models import TokenUser as BaseTokenUser
from rest_framework_simplejwt.tokens import AccessToken, Token

from tts_common.base.accounts import aaccount_accepts_token, account_accepts_token
from tts_common.base.permissions import ADMIN, PERMISSION_NAMES


class TokenUser(BaseTokenUser):
    """The caller as its access token describes it (no database lookup)."""

    @property
    def id(self) -> int:  # type: ignore[override]
        return int(self.token[str(settings.SIMPLE_JWT["USER_ID_CLAIM"])])

    @property
    def roles(self) -> dict[str, list[str]]:
        roles: dict[str, list[str]] = self.token.get("roles", {})
        return roles

    @property
    def is_admin(self) -> bool:
        return bool(self.token.get("is_admin", False))

    @property
    def permissions(self) -> frozenset[str]:
        return frozenset(self.token.get("permissions", ()))

    def has_permission(self, name: str) -> bool:
        return has_permission(self, name)

    @property
    def issued_at(self) -> int:
        return int(self.token.get("iat", 0))

    def has_role(self, role_name: str, system: str | None = None) -> bool:
        return role_name in self.roles.get(system or settings.TTS_SYSTEM, [])


# The user id of the services' own tokens (tts_common.http.auth_client.service_token): no account, so no account state.
# The auth service never issues a token for it (user ids start at 1); minting one needs the signing key.
SERVICE_USER_ID = 0


class JWTAuthentication(JWTStatelessUserAuthentication):
    """Bearer JWT, verified locally; ``request.user`` is a :class:`TokenUser`. Refused once its user is deactivated
    or changes the password (tts_common.base.accounts: at most ACCOUNT_STATE_MAX_AGE_SECONDS later), though the token has
    not expired."""

    www_authenticate_realm = "tts"

    def authenticate(self, request: Request) -> tuple[TokenUser, Token] | None:  # type: ignore[override]
        authenticated = super().authenticate(request)
        if authenticated is None:
            return None
        user = cast(TokenUser, authenticated[0])  # settings.SIMPLE_JWT's TOKEN_USER_CLASS
        if user.id != SERVICE_USER_ID and not account_accepts_token(user.id, user.issued_at):
            raise AuthenticationFailed("This token's account is inactive or its password has changed.", code="token_revoked")
        return user, authenticated[1]


async def user_from_token(raw_token: str) -> TokenUser | None:
    """Validate an access token outside DRF (WebSockets); ``None`` if bad, expired or refused by its account."""
    try:
        user = TokenUser(AccessToken(raw_token))  # type: ignore[arg-type]  # simplejwt types the encoded token as Token
    except TokenError:
        return None
    return user if await _account_accepts(user) else None


async def _account_accepts(user: TokenUser) -> bool:
    return user.id == SERVICE_USER_ID or await aaccount_accepts_token(user.id, user.issued_at)


def token_from_scope(scope: dict[str, Any]) -> str | None:
    """An ASGI scope's JWT: ``?token=`` or an ``Authorization: Bearer`` header."""
    query_string: bytes = scope.get("query_string", b"")
    query = parse_qs(query_string.decode())
    if query.get("token"):
        return query["token"][0]
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            header: str = value.decode()
            scheme, _, token = header.partition(" ")
            if scheme.lower() == "bearer" and token:
                return token
    return None


# WebSocket application close code for a missing, bad or expired token (the HTTP 401 of WebSockets).
WS_CLOSE_UNAUTHENTICATED = 4401


def close_when_token_ends(consumer: Any, user: TokenUser) -> asyncio.Task[None]:
    """Close ``consumer``'s socket with 4401 when ``user``'s token expires or its account refuses it (deactivated,
    password changed; looked at every ACCOUNT_STATE_MAX_AGE_SECONDS): a socket must not outlive the credential that
    opened it (the client reconnects with a fresh token, or is refused). Cancel the task when the socket closes
    first."""

    async def watch() -> None:
        expires_at = float(user.token["exp"])
        try:
            while (remaining := expires_at - time.time()) > 0:
                await asyncio.sleep(min(remaining, settings.ACCOUNT_STATE_MAX_AGE_SECONDS))
                if not await _account_accepts(user):
                    break
        finally:  # an error looking the account up closes the socket too (fail closed); a cancellation does not
            if not asyncio.current_task().cancelling():  # type: ignore[union-attr]
                await consumer.close(code=WS_CLOSE_UNAUTHENTICATED)

    return asyncio.ensure_future(watch())


def is_admin(user: Any) -> bool:
    """Admins: the token's ``is_admin`` (an active TTS role with the admin permission), or Django staff/superuser."""
    return bool(
        getattr(user, "is_admin", False) or getattr(user, "is_staff", False) or getattr(user, "is_superuser", False)
    )


def has_permission(user: Any, name: str) -> bool:
    """Whether ``user`` holds the permission ``name``: admins (:func:`is_admin`) hold every one, others those of
    their token's ``permissions`` claim."""
    return is_admin(user) or name in getattr(user, "permissions", ())


_READ_METHODS = ("GET", "HEAD", "OPTIONS")


def RequirePermission(name: str, *, reads_open: bool = False) -> type[BasePermission]:  # noqa: N802 (a class factory)
    """A DRF permission class admitting authenticated callers who hold ``name`` (403 for the others);
    ``reads_open``: GET, HEAD and OPTIONS are open to every authenticated caller, only writes need ``name``."""
    if name not in PERMISSION_NAMES:
        raise ValueError(f"{name!r} is not a permission (tts_common.base.permissions)")

    class Required(BasePermission):
        message = f"The {name!r} permission is required."

        def has_permission(self, request: Request, view: Any) -> bool:
            user = request.user
            if not (user and user.is_authenticated):
                return False
            return (reads_open and request.method in _READ_METHODS) or has_permission(user, name)

    Required.__name__ = Required.__qualname__ = f"Require_{name.replace('.', '_')}{'_ForWrites' if reads_open else ''}"
    return Required


# What no narrower permission covers (see tts_common.base.permissions.PERMISSIONS["admin"]).
IsAdmin = RequirePermission(ADMIN)
