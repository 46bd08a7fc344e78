"""JWT issue, refresh and logout (DESIGN §5 ``/token/``), with login throttling against password guessing.

Access tokens carry the claims of :func:`auth_service.selectors.token_claims` and are verified locally by every
service (``tts_common.http.auth``, which also refuses them once their user is deactivated), so a role change reaches a
service with the next refresh, at most one access-token lifetime later.

Refresh tokens are recorded (simplejwt's ``token_blacklist``) and rotated: each refresh answers a new one and revokes
the one it used, so a refresh token works once; the new one ends when the session's first one did (a session lasts
``JWT_REFRESH_DAYS`` however often it refreshes). Logout, deactivation and a new password revoke them
(auth_service.receivers). They are also bound to the password hash, for a password written without saving the model
(``QuerySet.update``).
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.throttling import BaseThrottle
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from . import selectors, services
from .models import AuditEvent, User

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


def token_pair_for_user(*, user: User, session_expires_at: int | None = None) -> TokenPair:
    """A fresh access + recorded refresh token pair for an already authenticated, active ``user``; the refresh token
    expires at ``session_expires_at`` (epoch seconds: a rotated session's end) or after its full lifetime."""
    refresh = RefreshToken()  # not for_user(): that records the token before our claims are in it
    refresh[settings.SIMPLE_JWT["USER_ID_CLAIM"]] = user.pk
    refresh[_PASSWORD_CLAIM] = user.get_session_auth_hash()
    if session_expires_at is not None:
        refresh["exp"] = session_expires_at
    refresh.outstand()
    return TokenPair(
        access_token=_access_token(user),
        refresh_token=str(refresh),
        expires_in=int(api_settings.ACCESS_TOKEN_LIFETIME.total_seconds()),
    )


# --- Login throttling -----------------------------------------------------------------------------------------
# Counters live in the shared cache (Redis on the real stack, so every web replica sees the same ones). Three rules:
#
# - per (account, client address): the LOGIN_FAILURE_LIMIT-th failure within LOGIN_FAILURE_WINDOW_SECONDS locks that
#   address out of that account for the window; while locked even a correct password is refused there, or guessing
#   would go on. Another address is not affected, so nobody can lock the owner out from elsewhere.
# - per client address, across accounts: LOGIN_ADDRESS_FAILURE_LIMIT failures lock the address out of every account
#   for the window (one address spraying passwords over many accounts).
# - per account, from every address: once it has LOGIN_FAILURE_LIMIT failures (counted while failures keep coming
#   within the window), each attempt claims a slot that holds the next one back 1 s, then 2, 4, ... up to
#   LOGIN_BACKOFF_MAX_SECONDS: 429 with Retry-After meanwhile. Guessing spread over many addresses is slowed to one
#   attempt per that many seconds, and the owner, from an address that is not locked, gets in after that short wait.
# A 429 is not a failure; bad input never reaches here; a success clears its (account, address) count only. Usernames
# are hashed, case-folded, into the keys.
class LoginThrottled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed login attempts; retry after {retry_after} s.")
        self.retry_after = retry_after


def client_address(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or the X-Forwarded-For entry of the outermost trusted proxy when
    NUM_PROXIES (REST_FRAMEWORK setting) is set: DRF's own rule, so login and API throttling see the same address."""
    return BaseThrottle().get_ident(request) or ""


@dataclass(frozen=True)
class _Keys:
    account: str
    pair: str
    address: str

    @classmethod
    def of(cls, username: str, client_ip: str) -> _Keys:
        account = f"auth:login:account:{hashlib.sha256(username.casefold().encode()).hexdigest()}"
        return cls(account=account, pair=f"{account}:from:{client_ip}", address=f"auth:login:address:{client_ip}")


def _locked_for(keys: _Keys) -> int:
    now = time.time()
    deadlines = cache.get_many([f"{keys.pair}:locked", f"{keys.address}:locked"]).values()
    return max((math.ceil(deadline - now) for deadline in deadlines if deadline > now), default=0)


def _backoff_seconds(failures: int) -> int:
    return min(2 ** (failures - settings.LOGIN_FAILURE_LIMIT), settings.LOGIN_BACKOFF_MAX_SECONDS)


def _claim_backoff_slot(keys: _Keys) -> None:
    """Once the account has LOGIN_FAILURE_LIMIT failures, one attempt per back-off delay (atomic: cache.add)."""
    failures = cache.get(keys.account, 0)
    if failures < settings.LOGIN_FAILURE_LIMIT:
        return
    delay = _backoff_seconds(failures)
    now = time.time()
    if not cache.add(f"{keys.account}:slot", now + delay, timeout=delay):
        free_at = cache.get(f"{keys.account}:slot", now + 1)
        raise LoginThrottled(max(1, math.ceil(free_at - now)))


def _count(key: str, *, sliding: bool) -> int:
    """Increment a failure counter; its window starts at the first failure, or at the latest when ``sliding``."""
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    cache.add(key, 0, timeout=window)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
        count = 1
    if sliding:
        cache.touch(key, window)
    return count


def _lock(key: str) -> None:
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    cache.set(f"{key}:locked", time.time() + window, timeout=window)
    cache.delete(key)


def _record_failure(keys: _Keys, *, username: str, client_ip: str) -> None:
    """Count the failure, lock what reached its limit, and audit both (a locked-out attempt is not a failure)."""
    target = User.objects.filter(username=username).first()
    audit = {"source_address": client_ip, "target": target, "target_username": username}
    services.audit_record(event_type=AuditEvent.EventType.LOGIN_FAILED, **audit)
    locked = []
    if _count(keys.pair, sliding=False) >= settings.LOGIN_FAILURE_LIMIT:
        _lock(keys.pair)
        locked.append("this account from this address")
    if _count(keys.address, sliding=False) >= settings.LOGIN_ADDRESS_FAILURE_LIMIT:
        _lock(keys.address)
        locked.append("every account from this address")
    # Sliding, so that the back-off holds as long as the guessing goes on.
    _count(keys.account, sliding=True)
    for scope in locked:
        services.audit_record(
            event_type=AuditEvent.EventType.LOGIN_LOCKED_OUT,
            details={"locked": scope, "seconds": settings.LOGIN_FAILURE_WINDOW_SECONDS},
            **audit,
        )


def authenticate_throttled(*, username: str, password: str, client_ip: str) -> User | None:
    """The active user with these credentials, or ``None``; :class:`LoginThrottled` while throttled (see above).
    The one password check of every login form: ``/token/`` and Django admin's."""
    keys = _Keys.of(username, client_ip)
    retry_after = _locked_for(keys)
    if retry_after:
        raise LoginThrottled(retry_after)
    _claim_backoff_slot(keys)
    # ModelBackend refuses inactive users like wrong passwords, so an attacker cannot tell them apart.
    user = authenticate(username=username, password=password)
    if user is None:
        _record_failure(keys, username=username, client_ip=client_ip)
        return None
    cache.delete(keys.pair)  # the account's count goes on: the owner's login must not hand out fresh fast guesses
    return user


def obtain_token_pair(*, username: str, password: str, client_ip: str) -> TokenPair:
    """Log in with a password; 401 on bad credentials or an inactive account, 429 while throttled."""
    try:
        user = authenticate_throttled(username=username, password=password, client_ip=client_ip)
    except LoginThrottled as exc:
        raise Throttled(wait=exc.retry_after, detail="Too many failed login attempts.") from exc
    if user is None:
        raise AuthenticationFailed("No active account found with the given credentials.", code="invalid_credentials")
    return token_pair_for_user(user=user)


# --- Refresh and revocation -----------------------------------------------------------------------------------
def _invalid_refresh(detail: str) -> AuthenticationFailed:
    # simplejwt's InvalidToken carries a dict detail, which would break the API's flat error shape.
    return AuthenticationFailed(detail, code="token_not_valid")


def _valid_refresh(refresh_token: str) -> RefreshToken:
    """The refresh token if its signature, type and expiry are good and it was not revoked; else 401."""
    try:
        return RefreshToken(refresh_token)
    except TokenError as exc:
        raise _invalid_refresh(str(exc)) from exc


def refresh_token_pair(*, refresh_token: str) -> TokenPair:
    """A new pair for a refresh token, which is revoked: claims re-read from the database; refused for inactive users,
    a changed password, or a refresh token already used, logged out or revoked."""
    refresh = _valid_refresh(refresh_token)
    user = User.objects.filter(pk=refresh.get(settings.SIMPLE_JWT["USER_ID_CLAIM"]), is_active=True).first()
    if user is None or not constant_time_compare(refresh.get(_PASSWORD_CLAIM, ""), user.get_session_auth_hash()):
        raise _invalid_refresh("The refresh token is no longer valid.")
    # Of two concurrent refreshes with the same token, only the one that revokes it gets a new pair.
    _, first_use = refresh.blacklist()
    if not first_use:
        raise _invalid_refresh("Token is blacklisted")
    return token_pair_for_user(user=user, session_expires_at=int(refresh["exp"]))


def revoke_refresh_token(*, refresh_token: str) -> None:
    """Logout: revoke this refresh token (401 if it is not a valid one). The access token runs out on its own."""
    _valid_refresh(refresh_token).blacklist()


def revoke_user_refresh_tokens(*, user: User) -> None:
    """Revoke every unexpired refresh token of ``user`` (deactivation, password change)."""
    live = OutstandingToken.objects.filter(user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True)
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token=token) for token in live], ignore_conflicts=True)
