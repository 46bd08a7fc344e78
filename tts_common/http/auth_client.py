"""Look up users in the auth service over HTTP, for services that do not own users (DESIGN §1, §2).

- Calls ``GET {AUTH_SERVICE_URL}/api/v1/users/{id}/`` with a service JWT minted locally with the shared key
  (``user_id=0``, ``username="svc:<service>"``, ``is_admin=True``): no credentials to store or rotate.
- 10 s timeout, 2 retries on a network error, a 5xx or a 429 (DESIGN §2).
- Answers are cached in Django's cache (shared by every process): fresh for 5 minutes, then refetched.
- Degraded mode: while the auth service does not answer, a cached answer of any age is served for the first
  5 minutes of the outage (``STALE_WINDOW_SECONDS``), so that e.g. email delivery goes on; after that lookups fail
  (their callers retry later). The outage is recorded in the cache when a lookup first fails and cleared by the
  next answer; :func:`auth_service_status` reports it (the web UI's banner), probing the auth service itself when
  no lookup has told for ``DEGRADED_STATUS_INTERVAL_SECONDS``.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

import requests
from django.conf import settings
from django.core.cache import cache
from rest_framework_simplejwt.tokens import AccessToken

from tts_common.base import json_input
from tts_common.http.auth import SERVICE_USER_ID

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
RETRIES = 2
RETRY_PAUSE_SECONDS = 0.5
FRESH_SECONDS = 5 * 60
STALE_SECONDS = 7 * 24 * 3600  # how long a cached answer is kept at all
STALE_WINDOW_SECONDS = 5 * 60  # how long into an outage cached answers are served
PROBE_TIMEOUT_SECONDS = 3
# Cache keys of the outage (the Unix time the first failing lookup gave up) and of the last time anyone asked.
OUTAGE_KEY = "auth_client:unavailable_since"
ASKED_KEY = "auth_client:asked_at"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class UserInfo:
    id: int
    username: str
    email: str
    is_active: bool


class AuthServiceUnavailable(Exception):
    """The auth service did not answer usefully and no cached copy exists: worth retrying later."""


class UserNotFound(Exception):
    """The auth service says this user does not exist."""


def auth_service_url() -> str:
    return str(settings.AUTH_SERVICE_URL).rstrip("/")


def service_token(service: str) -> str:
    """A short-lived admin access token naming the calling service (user id 0 is never a real user)."""
    token = AccessToken()
    token[str(settings.SIMPLE_JWT["USER_ID_CLAIM"])] = SERVICE_USER_ID
    token["username"] = f"svc:{service}"
    token["is_admin"] = True
    return str(token)


class AuthServiceClient:
    def __init__(self, service: str) -> None:
        self.service = service
        self._session = requests.Session()

    def get_user(self, user_id: int) -> UserInfo:
        """The user, fresh from the auth service or from the cache (see module docstring)."""
        key = f"auth_client:user:{user_id}"
        cached = _cache_get(key)
        if cached and time.time() - cached["fetched_at"] < FRESH_SECONDS:
            return UserInfo(**cached["user"])
        try:
            user = self._fetch(user_id, retries=RETRIES, timeout=TIMEOUT_SECONDS)
        except UserNotFound:
            _cache_delete(key)
            raise
        except AuthServiceUnavailable as exc:
            if cached and _outage_seconds() < STALE_WINDOW_SECONDS:
                logger.warning(
                    "auth service unavailable; serving a cached user",
                    extra={"operation": "auth_client.get_user", "user_id": user_id, "error": str(exc)},
                )
                return UserInfo(**cached["user"])
            raise
        _cache_set(key, {"user": asdict(user), "fetched_at": time.time()})
        return user

    def probe(self) -> None:
        """Ask the auth service once, quickly, for a user that never exists, recording whether it answered."""
        try:
            self._fetch(SERVICE_USER_ID, retries=0, timeout=PROBE_TIMEOUT_SECONDS)
        except (UserNotFound, AuthServiceUnavailable):  # either way, recorded
            pass

    def _fetch(self, user_id: int, *, retries: int, timeout: float) -> UserInfo:
        try:
            user = self._get(user_id, retries=retries, timeout=timeout)
        except AuthServiceUnavailable:
            _record_outcome(answered=False)
            raise
        except UserNotFound:
            _record_outcome(answered=True)
            raise
        _record_outcome(answered=True)
        return user

    def _get(self, user_id: int, *, retries: int, timeout: float) -> UserInfo:
        url = f"{auth_service_url()}/api/v1/users/{user_id}/"
        error = ""
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(RETRY_PAUSE_SECONDS * attempt)
            try:
                response = self._session.get(
                    url,
                    headers={"Authorization": f"Bearer {service_token(self.service)}", "Accept": "application/json"},
                    timeout=timeout,
                )
            except requests.RequestException as exc:
                error = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code == 404:
                raise UserNotFound(f"user {user_id} does not exist")
            if response.status_code in RETRYABLE_STATUSES:
                error = f"HTTP {response.status_code}"
                continue
            if response.status_code != 200:  # 401/403 and the like: a configuration problem, retrying won't help
                raise AuthServiceUnavailable(f"HTTP {response.status_code} from {url}")
            return _parse_user(response)
        raise AuthServiceUnavailable(f"{url}: {error} (after {retries} retries)")


@dataclass(frozen=True)
class AuthServiceStatus:
    """Whether the auth service answers lookups; if not, since when (Unix time) and until when cached users serve."""

    available: bool
    unavailable_since: float | None = None

    @property
    def cached_users_until(self) -> float | None:
        return None if self.unavailable_since is None else self.unavailable_since + STALE_WINDOW_SECONDS


def auth_service_status(service: str) -> AuthServiceStatus:
    """The auth service's state as the last lookup found it, probed first if none asked for
    ``DEGRADED_STATUS_INTERVAL_SECONDS`` (so at most about one probe per interval, whoever asks)."""
    asked_at = _cache_get(ASKED_KEY)
    if asked_at is None or time.time() - asked_at >= settings.DEGRADED_STATUS_INTERVAL_SECONDS:
        AuthServiceClient(service).probe()
    since = _cache_get(OUTAGE_KEY)
    return AuthServiceStatus(available=since is None, unavailable_since=since)


def _record_outcome(*, answered: bool) -> None:
    """Note that the auth service was asked, and start (keeping the first failure's time) or end the outage."""
    now = time.time()
    _cache_call("set", ASKED_KEY, now, STALE_SECONDS)
    if answered:
        _cache_call("delete", OUTAGE_KEY)
    else:
        _cache_call("add", OUTAGE_KEY, now, STALE_SECONDS)


def _outage_seconds() -> float:
    since = _cache_get(OUTAGE_KEY)
    return 0.0 if since is None else time.time() - since


def _parse_user(response: requests.Response) -> UserInfo:
    try:
        body = json_input.loads(response.content)
        return UserInfo(
            id=int(body["id"]),
            username=str(body["username"]),
            email=str(body.get("email") or ""),
            is_active=bool(body.get("is_active", True)),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise AuthServiceUnavailable(f"unexpected user payload: {exc}") from exc


# A cache outage must not turn into a lookup outage: the cache is an optimisation here.
def _cache_call(method: str, *args: Any) -> Any:
    try:
        return getattr(cache, method)(*args)
    except Exception:
        logger.warning("cache unavailable", exc_info=True, extra={"operation": "auth_client.cache"})
        return None


def _cache_get(key: str) -> Any:
    return _cache_call("get", key)


def _cache_set(key: str, value: dict[str, Any]) -> None:
    _cache_call("set", key, value, STALE_SECONDS)


def _cache_delete(key: str) -> None:
    _cache_call("delete", key)
