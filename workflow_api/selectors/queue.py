"""An agent's queue: the tasks assigned to or owned by one user in some statuses, soonest SLA deadline first, a keyset
page at a time. It is what the queue page (web/static/web/queue.js) asks for at every visit,
``/tasks/?mine=true&status=<open statuses>&ordering=sla_deadline&cursor=``, and the API's busiest read.

The rows, their order and their paging are the task list's for that query string (tasks.task_list_rows,
tasks_assigned_or_owned, TaskFilter's status and ordering, the pagination's keyset), read through statements
compiled once per process (tts_common.base.statements). Building TaskFilter's form and compiling the list's query
per request were two thirds of a queue page's CPU: at 50 clients the page answered at a fifth of the web server's
ceiling (bench/README.md)."""
from __future__ import annotations

from collections.abc import Sequence
from functools import cache, lru_cache
from typing import Any

from django.db.models import F, QuerySet

from tts_common.base.statements import AnyOf, CompiledRead, Slot, Statement
from tts_common.http.pagination import OrderingKey, count_sql_rows, keyset_rows, ordering_keys
from workflow_api.models import Task
from workflow_api.selectors.tasks import task_list_rows, tasks_assigned_or_owned

QUEUE_ORDERING = ("sla_deadline", "task_id")  # TaskFilter's ordering=sla_deadline, its ties broken by task_id
_KEY_FIELDS = {field.name: field for field in Task._meta.concrete_fields if field.name in QUEUE_ORDERING}


def _queue() -> QuerySet[Task]:
    """The queue's rows with a slot for the user and one for the statuses."""
    mine = tasks_assigned_or_owned(task_list_rows().all(), user_id=Slot("user_id"))
    return mine.filter(AnyOf(F("status"), Slot("statuses")))


@cache
def queue_keys() -> tuple[OrderingKey, ...]:
    """The queue's keyset: what the pagination makes of the list's ordering (its cursors are the list's)."""
    return tuple(ordering_keys(task_list_rows().order_by(*QUEUE_ORDERING)))


@lru_cache(maxsize=32)  # the two directions, from the start or from a row, at the page sizes clients use
def _page_statement(walk: tuple[OrderingKey, ...], from_row: bool, limit: int) -> CompiledRead:
    after = [Slot(f"after_{position}") for position in range(len(walk))] if from_row else []
    return CompiledRead.of_rows(keyset_rows(_queue(), list(walk), after)[:limit])


@cache
def _count_statement() -> Statement:
    return Statement.of(_queue().order_by().values("pk"))


def _queue_values(user_id: int, statuses: Sequence[str]) -> dict[str, Any]:
    """The values of _queue's slots: each status once, in one order (as TaskFilter's status filter gives them)."""
    return {"user_id": user_id, "statuses": sorted(set(statuses))}


def task_queue_page(
    *, user_id: int, statuses: Sequence[str], walk: list[OrderingKey], after: list[Any], limit: int
) -> list[Any]:
    """At most ``limit`` of the queue's tasks in the order of ``walk`` (queue_keys, or those flipped), after the task
    whose key values (as a cursor holds them) are ``after``; empty ``after``: from the first. Each is a record with
    the attributes of the list's tasks (task_list_rows: columns and annotations)."""
    values = _queue_values(user_id, statuses)
    for position, value in enumerate(after):  # as the cursor holds them: JSON (tts_common.http.pagination)
        values[f"after_{position}"] = _KEY_FIELDS[walk[position].name].to_python(value)
    return _page_statement(tuple(walk), bool(after), limit).records(**values)


def task_queue_count(*, user_id: int, statuses: Sequence[str]) -> tuple[int, bool]:
    """``(count, is_estimate)`` of the queue, as every list counts (exact below the pagination's limit)."""
    statement = _count_statement()
    return count_sql_rows(statement.sql, statement.bind(_queue_values(user_id, statuses)))
