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

from django.db.models import QuerySet

from tts_common.base.statements import CompiledRead, Slot, Statement
from tts_common.http.pagination import OrderingKey, count_sql_rows, keyset_rows, ordering_keys
from workflow_api.models import Task
from workflow_api.selectors.tasks import task_list_rows, tasks_assigned_or_owned

QUEUE_ORDERING = ("sla_deadline", "task_id")  # TaskFilter's ordering=sla_deadline, its ties broken by task_id
_KEY_FIELDS = {field.name: field for field in Task._meta.concrete_fields if field.name in QUEUE_ORDERING}


def _queue(statuses: tuple[str, ...]) -> QuerySet[Task]:
    """The queue's rows in ``statuses``, with a slot for the user. The statuses are the statement's own (its
    shape), not a slot: knowing them, PostgreSQL's one plan for every agent reads the agent's few open tasks by the
    agent's indexes (tts_common.base.statements)."""
    return tasks_assigned_or_owned(task_list_rows().all(), user_id=Slot("user_id")).filter(status__in=statuses)


@cache
def queue_keys() -> tuple[OrderingKey, ...]:
    """The queue's keyset: what the pagination makes of the list's ordering (its cursors are the list's)."""
    return tuple(ordering_keys(task_list_rows().order_by(*QUEUE_ORDERING)))


@lru_cache(maxsize=64)  # two directions, from the start or from a row, at the page sizes and statuses clients use
def _page_statement(
    statuses: tuple[str, ...], walk: tuple[OrderingKey, ...], from_row: bool, limit: int
) -> CompiledRead:
    after = [Slot(f"after_{position}") for position in range(len(walk))] if from_row else []
    return CompiledRead.of_rows(keyset_rows(_queue(statuses), list(walk), after)[:limit])


@lru_cache(maxsize=16)
def _count_statement(statuses: tuple[str, ...]) -> Statement:
    return Statement.of(_queue(statuses).order_by().values("pk"))


def _shape(statuses: Sequence[str]) -> tuple[str, ...]:
    """The statuses as a statement is cached by them: each once, in one order (as TaskFilter's filter gives them)."""
    return tuple(sorted(set(statuses)))


def task_queue_page(
    *, user_id: int, statuses: Sequence[str], walk: list[OrderingKey], after: list[Any], limit: int
) -> list[Any]:
    """At most ``limit`` of the queue's tasks in the order of ``walk`` (queue_keys, or those flipped), after the task
    whose key values (as a cursor holds them) are ``after``; empty ``after``: from the first. Each is a record with
    the attributes of the list's tasks (task_list_rows: columns and annotations)."""
    values: dict[str, Any] = {"user_id": user_id}
    for position, value in enumerate(after):  # as the cursor holds them: JSON (tts_common.http.pagination)
        values[f"after_{position}"] = _KEY_FIELDS[walk[position].name].to_python(value)
    return _page_statement(_shape(statuses), tuple(walk), bool(after), limit).records(**values)


def task_queue_count(*, user_id: int, statuses: Sequence[str]) -> tuple[int, bool]:
    """``(count, is_estimate)`` of the queue, as every list counts (exact below the pagination's limit)."""
    statement = _count_statement(_shape(statuses))
    return count_sql_rows(statement.sql, statement.bind({"user_id": user_id}))
