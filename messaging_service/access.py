"""Who may see a ticket's comments: the one policy the REST API and the WebSocket feed both apply.

Decided from messaging_service's own copy of each ticket's participants (:class:`.models.TicketParticipant`,
synced from workflow_api by ``messaging.ticket_participants.sync``), never by asking another service:
- admins (TTS admin role, Django staff/superuser) see every ticket that has a copy;
- anyone else sees a ticket they take or took part in: its owner, its assignee, any past assignee;
- a ticket without a copy (none yet, or no such ticket) is seen by nobody.
Every refusal is the same :class:`TicketNotVisible`, so a refusal never tells whether the ticket exists.
"""
from __future__ import annotations

from tts_common.http.auth import TokenUser, is_admin

from .selectors import TicketParticipants, ticket_participants


class TicketNotVisible(Exception):
    """No such ticket, or not the caller's: the two are not told apart."""


def ticket_access(*, user: TokenUser, ticket_id: str) -> TicketParticipants:
    """The ticket's participants, if ``user`` may see its comments; else :class:`TicketNotVisible`."""
    ticket = ticket_participants(ticket_id=ticket_id)
    if ticket is None or not (is_admin(user) or user.id in ticket.usernames):
        raise TicketNotVisible(ticket_id)
    return ticket
