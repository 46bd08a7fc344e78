"""The advisory lock that orders intake against whatever must see every ticket's task (or its absence) at once."""
from __future__ import annotations

from django.db import connection

# Ingestion holds this advisory lock shared; routing of unrouted tickets (at deploy) and the deployed HDTS's ticket
# statuses hold it exclusive. So a ticket matched against the workflows of just before a deploy is stored as
# unrouted *before* the deploy looks for unrouted tickets, and one matched just after sees the deployed workflow; and
# a status either sees its ticket's task or is kept where that ticket's intake will find it: none falls between.
ROUTING_LOCK_KEY = 0x7454_5301


def routing_lock(*, exclusive: bool) -> None:
    """Take the lock for the rest of the current transaction."""
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s)", [ROUTING_LOCK_KEY])
