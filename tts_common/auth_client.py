"""Look up users in the auth service over HTTP, for services that do not own users (DESIGN §1, §2).

- Calls ``GET {AUTH_SERVICE_URL}/api/v1/users/{id}/`` with a service JWT minted locally with the shared key
  (``user_id=0``, ``username="svc:<service>"``, ``is_admin=True``): no credentials to store or rotate.
- 10 s timeout, 2 retries on a network error, a 5xx or a 429 (DESIGN §2).
- Answers are cached in Django's cache: fresh for 5 minutes, then refetched; while the auth service is down a
  cached answer of any age (up to a week) is served, so a lookup outage does not stop e.g. email delivery.
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

from . import json_input
from .auth import SERVICE_USER_ID

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
RETRIES = 2
RETRY_PAUSE_SECONDS = 0.5
FRESH_SECONDS = 5 * 60
STALE_SECONDS = 7 * 24 * 3600
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
    return settings.AUTH_SERVICE_URL.rstrip("/")


def service_token(service: str) -> str:
    """A short-lived admin access token naming the calling service (user id 0 is never a real user)."""
    token = AccessToken()
    token[settings.SIMPLE_JWT["USER_ID_CLAIM"]] = SERVICE_USER_ID
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
            user = self._fetch(user_id)
        except UserNotFound:
            _cache_delete(key)
            raise
        except AuthServiceUnavailable as exc:
            if cached:
                logger.warning(
                    "auth service unavailable; serving a cached user",
                    extra={"operation": "auth_client.get_user", "user_id": user_id, "error": str(exc)},
                )
                return UserInfo(**cached["user"])
            raise
        _cache_set(key, {"user": asdict(user), "fetched_at": time.time()})
        return user

    def _fetch(self, user_id: int) -> UserInfo:
        url = f"{auth_service_url()}/api/v1/users/{user_id}/"
        error = ""
        for attempt in range(RETRIES + 1):
            if attempt:
                time.sleep(RETRY_PAUSE_SECONDS * attempt)
            try:
                response = self._session.get(
                    url,
                    headers={"Authorization": f"Bearer {service_token(self.service)}", "Accept": "application/json"},
                    timeout=TIMEOUT_SECONDS,
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
        raise AuthServiceUnavailable(f"{url}: {error} (after {RETRIES} retries)")


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
def _cache_get(key: str) -> dict[str, Any] | None:
    try:
        return cache.get(key)
    except Exception:
        logger.warning("cache unavailable", exc_info=True, extra={"operation": "auth_client.cache"})
        return None


def _cache_set(key: str, value: dict[str, Any]) -> None:
    try:
        cache.set(key, value, STALE_SECONDS)
    except Exception:
        logger.warning("cache unavailable", exc_info=True, extra={"operation": "auth_client.cache"})


def _cache_delete(key: str) -> None:
    try:
        cache.delete(key)
    except Exception:
        logger.warning("cache unavailable", exc_info=True, extra={"operation": "auth_client.cache"})
