"""JWT issue and refresh (DESIGN §5 ``/token/``), with login throttling against password guessing.

Access tokens carry the claims of :func:`auth_service.selectors.token_claims` and are verified locally by every
service (``tts_common.auth``), so a role change reaches a service with the next refresh, at most one access-token
lifetime later. Refresh tokens are not rotated (no blacklist is kept, so a rotated-out token would stay valid
anyway); they are bound to the password instead, so changing it ends every session.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache
from django.utils.crypto import constant_time_compare
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from . import selectors
from .models import User

# Refresh-token claim binding it to the user's password (Django's session hash changes with the password).
_PASSWORD_CLAIM = "session_hash"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int  # seconds the access token is valid


def _access_token(user: User) -> str:
    token = AccessToken.for_user(user)
    for claim, value in selectors.token_claims(user=user).items():
        token[claim] = value
    return str(token)


def _pair(user: User, refresh_token: str) -> TokenPair:
    return TokenPair(
        access_token=_access_token(user),
        refresh_token=refresh_token,
        expires_in=int(api_settings.ACCESS_TOKEN_LIFETIME.total_seconds()),
    )


def token_pair_for_user(*, user: User) -> TokenPair:
    """A fresh access + refresh token pair for an already authenticated, active ``user``."""
    refresh = RefreshToken.for_user(user)
    refresh[settings.SIMPLE_JWT["USER_ID_CLAIM"]] = user.pk
    refresh[_PASSWORD_CLAIM] = user.get_session_auth_hash()
    return _pair(user, str(refresh))


# --- Login throttling -----------------------------------------------------------------------------------------
# Failures are counted per username and per client IP in the shared cache (Redis in the real stack, so every web
# replica sees the same counters). The LOGIN_FAILURE_LIMIT-th failure within the window locks that username / IP
# out for LOGIN_FAILURE_WINDOW_SECONDS; while locked even a correct password is refused, or guessing would go on.
def _throttle_keys(username: str, client_ip: str) -> tuple[str, str]:
    user_digest = hashlib.sha256(username.casefold().encode()).hexdigest()
    return f"auth:login-failures:user:{user_digest}", f"auth:login-failures:ip:{client_ip}"


def _lockout_remaining(keys: tuple[str, ...]) -> int:
    now = time.time()
    deadlines = cache.get_many([f"{key}:locked" for key in keys]).values()
    return max((int(deadline - now) + 1 for deadline in deadlines if deadline > now), default=0)


def _record_failure(keys: tuple[str, ...]) -> None:
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    for key in keys:
        cache.add(key, 0, timeout=window)  # the window starts at the first failure
        try:
            failures = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)
            failures = 1
        if failures >= settings.LOGIN_FAILURE_LIMIT:
            cache.set(f"{key}:locked", time.time() + window, timeout=window)
            cache.delete(key)


def obtain_token_pair(*, username: str, password: str, client_ip: str) -> TokenPair:
    """Log in with a password; 401 on bad credentials or an inactive account, 429 while throttled."""
    keys = _throttle_keys(username, client_ip)
    retry_after = _lockout_remaining(keys)
    if retry_after:
        raise Throttled(wait=retry_after, detail="Too many failed login attempts.")
    # ModelBackend refuses inactive users like wrong passwords, so an attacker cannot tell them apart.
    user = authenticate(username=username, password=password)
    if user is None:
        _record_failure(keys)
        raise AuthenticationFailed("No active account found with the given credentials.", code="invalid_credentials")
    cache.delete(keys[0])
    return token_pair_for_user(user=user)


def _invalid_refresh(detail: str) -> AuthenticationFailed:
    # simplejwt's InvalidToken carries a dict detail, which would break the API's flat error shape.
    return AuthenticationFailed(detail, code="token_not_valid")


def refresh_token_pair(*, refresh_token: str) -> TokenPair:
    """A new access token, its claims re-read from the database; refused for inactive users or a changed password."""
    try:
        refresh = RefreshToken(refresh_token)
    except TokenError as exc:
        raise _invalid_refresh(str(exc)) from exc
    user = User.objects.filter(pk=refresh.get(settings.SIMPLE_JWT["USER_ID_CLAIM"]), is_active=True).first()
    if user is None or not constant_time_compare(refresh.get(_PASSWORD_CLAIM, ""), user.get_session_auth_hash()):
        raise _invalid_refresh("The refresh token is no longer valid.")
    return _pair(user, refresh_token)
