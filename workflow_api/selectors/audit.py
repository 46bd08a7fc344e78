"""Reads of the audit log."""
from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet

from workflow_api.models import AuditEvent


def audit_event_list() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.order_by("-occurred_at", "-id")


def audit_action_list() -> list[str]:
    """Every event type recorded so far, sorted (the audit log's filter offers them).

    A loose index scan: one index probe per distinct action (a few dozen), where SELECT DISTINCT would read the
    whole action index of a log of millions of events."""
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH RECURSIVE actions(action) AS (
                    SELECT MIN(action) FROM {table}
                    UNION ALL
                    SELECT (SELECT MIN(action) FROM {table} WHERE action > actions.action)
                    FROM actions WHERE actions.action IS NOT NULL
                ) SELECT action FROM actions WHERE action IS NOT NULL"""  # noqa: S608 (the table name is ours)
        )
        return [action for (action,) in cursor.fetchall()]
