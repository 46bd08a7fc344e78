"""Who may see a ticket's comments: the one policy the REST API and the WebSocket feed both apply.

messaging_service owns no tasks and imports nothing from workflow_api. The rule:
- admins (TTS admin role, Django staff/superuser) see every ticket;
- when ``WORKFLOW_API_URL`` is set, anyone else sees a ticket when the workflow API, asked with *their own* token
  (``GET /tasks/?external_ticket_id=``), shows them at least one of its tasks: the DESIGN rule "agents see the tasks
  assigned to or owned by them" is then enforced by the service that owns it;
- when it is unset (the one-process deployment), any authenticated TTS user sees every ticket.
Answers are cached briefly per (user, ticket), so a feed reconnect storm does not become a workflow API storm.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache

from tts_common.auth import TokenUser, is_admin

from . import integrations

logger = logging.getLogger(__name__)

# A grant is kept longer than a refusal, so a newly assigned agent waits seconds, not a minute, to get in.
GRANT_CACHE_SECONDS = 30
REFUSAL_CACHE_SECONDS = 5


@dataclass(frozen=True)
class TicketAccess:
    allowed: bool
    # user id -> task id, for "comment_added" notifications; empty when the workflow API is not configured.
    participants: dict[int, str] = field(default_factory=dict)


class AccessCheckUnavailable(Exception):
    """The workflow API could not answer, so a non-admin's access cannot be decided (fail closed)."""


def _cache_key(user: TokenUser, ticket_id: str) -> str:
    return f"messaging:access:{user.id}:{hashlib.sha256(ticket_id.encode()).hexdigest()}"


def ticket_access(*, user: TokenUser, token: str, ticket_id: str) -> TicketAccess:
    workflow_api_url: str = settings.WORKFLOW_API_URL
    admin = is_admin(user)
    if not workflow_api_url:
        return TicketAccess(allowed=True)
    key = _cache_key(user, ticket_id)
    cached: TicketAccess | None = cache.get(key)
    if cached is not None:
        return cached
    try:
        tasks = integrations.fetch_ticket_tasks(workflow_api_url, ticket_id=ticket_id, token=token)
    except integrations.UpstreamUnavailable as exc:
        if admin:
            # Admins may always see comments; they only lose the participants to notify.
            logger.warning("workflow API unavailable; admin allowed", extra={"operation": "ticket_access"})
            return TicketAccess(allowed=True)
        raise AccessCheckUnavailable(str(exc)) from exc
    access = TicketAccess(allowed=admin or tasks.count > 0, participants=tasks.participants)
    cache.set(key, access, GRANT_CACHE_SECONDS if access.allowed else REFUSAL_CACHE_SECONDS)
    return access
