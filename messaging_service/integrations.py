"""HTTP calls to other services' public APIs (never their code): the workflow API's tasks and the auth API's users.

Tasks are asked for with the caller's own access token, so the workflow API applies its own visibility rules; users
are looked up with a service token (:func:`tts_common.auth_client.service_token`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

logger = logging.getLogger(__name__)

# DESIGN §2: REST lookups get 2 retries and a 10 s timeout. Connecting gets less: a dead host should fail fast.
TIMEOUT = (3.0, 10.0)
RETRIES = Retry(total=2, backoff_factor=0.2, status_forcelist=(502, 503, 504), allowed_methods=("GET",))
# A ticket maps to one task in practice; more than this many are not worth a second page.
TASK_PAGE_SIZE = 100


class UpstreamUnavailable(Exception):
    """The other service did not answer usably (down, timed out, 5xx, or an unexpected body)."""


@dataclass(frozen=True)
class TicketTasks:
    """What the workflow API shows one user of a ticket's tasks."""

    count: int
    # user id -> the task that makes them a participant (its assignee or owner)
    participants: dict[int, str] = field(default_factory=dict)


def _session() -> requests.Session:
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=RETRIES))
    session.mount("https://", HTTPAdapter(max_retries=RETRIES))
    return session


def _get_json(url: str, *, token: str, params: dict[str, Any]) -> tuple[int, Any]:
    try:
        with _session() as session:
            response = session.get(url, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise UpstreamUnavailable(f"GET {url}: {exc}") from exc
    if response.status_code >= 500:
        raise UpstreamUnavailable(f"GET {url}: HTTP {response.status_code}")
    if response.status_code != 200:
        return response.status_code, None
    try:
        return 200, response.json()
    except ValueError as exc:
        raise UpstreamUnavailable(f"GET {url}: body is not JSON") from exc


def fetch_ticket_tasks(base_url: str, *, ticket_id: str, token: str) -> TicketTasks:
    """``GET /tasks/?external_ticket_id=`` as the caller; a 401/403/404 means they see no task of that ticket."""
    status, body = _get_json(
        f"{base_url.rstrip('/')}/tasks/",
        token=token,
        params={"external_ticket_id": ticket_id, "page_size": TASK_PAGE_SIZE},
    )
    if status != 200:
        return TicketTasks(count=0)
    try:
        participants: dict[int, str] = {}
        for task in body["results"]:
            # `owner` is not in DESIGN's minimal task shape; it is used when the workflow API provides it.
            for key in ("assigned_user", "owner"):
                if isinstance(task.get(key), int):
                    participants.setdefault(task[key], str(task["task_id"]))
        return TicketTasks(count=int(body["count"]), participants=participants)
    except (KeyError, TypeError, ValueError) as exc:
        raise UpstreamUnavailable(f"unexpected /tasks/ body: {exc!r}") from exc


def lookup_user_id(base_url: str, *, username: str, token: str) -> int | None:
    """The id of the user named exactly ``username`` (``GET /api/v1/users/?search=``); ``None`` if not found."""
    status, body = _get_json(f"{base_url.rstrip('/')}/api/v1/users/", token=token, params={"search": username})
    if status != 200:
        return None
    try:
        matches = [user["id"] for user in body["results"] if user.get("username") == username]
    except (KeyError, TypeError) as exc:
        raise UpstreamUnavailable(f"unexpected /api/v1/users/ body: {exc!r}") from exc
    return int(matches[0]) if matches else None
