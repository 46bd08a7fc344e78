"""Reads the ORM compiles once per process and the database runs per request, with each request's values bound.

Why: building a list's queryset and compiling it (Django's compiler resolves, names and renders every expression
each time) costs a millisecond or more of CPU a request, for SQL text that never changes between requests; only
the values do. A :class:`CompiledRead` is a queryset compiled once with a :class:`Slot` wherever a request's value
goes, and is then executed with the values bound by name. The ORM stays the only author of the SQL: the statement
is exactly what the same queryset compiles to, with the slots' values in place.

Only the slots are parameters: every other value of the queryset (a constant of the code, or one that decides the
statement's shape) is written into the SQL as a literal when it is compiled. The statement is sent with server-side
binding (:func:`~tts_common.base.database.binding_cursor`), so psycopg prepares it on a web connection that runs it
often, PostgreSQL parses it no more, and a web connection plans it once (its generic plan, made knowing every value
but the slots': tts_common.base.database.WEB_PLAN_CACHE_MODE). For the agent's queue that plan reads the agent's few
open tasks by the agent's indexes, right for every agent; with the statuses a parameter too, the generic plan walked
the deadline index over every task (bench/README.md), and PostgreSQL planned the queue at each request, half of its
time for the page.

Accepted: only plain reads of one model's columns and annotations (no select_related, prefetch or values()), read as
records rather than model instances (nothing to save or relate); a value that decides the query's shape (a None, a
list that may be empty, a LIMIT) or the plan's (the queue's statuses) is not a slot, so each shape is a statement of
its own (the callers cache one per shape)."""
from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import Expression, Field, QuerySet
from psycopg.sql import Literal

from tts_common.base.database import binding_cursor

_PLACEHOLDER = re.compile("%%|%s")  # a parameter's place in Django's SQL, or an escaped percent sign


class Slot(Expression):
    """A value bound by name each time the compiled statement runs (``%s`` in the SQL)."""

    def __init__(self, name: str, output_field: Field[Any, Any] | None = None) -> None:
        super().__init__(output_field=output_field)
        self.name = name

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        return "%s", (self,)

    def __repr__(self) -> str:
        return f"Slot({self.name!r})"


@dataclass(frozen=True)
class Statement:
    """A queryset's SQL, its constants written in as literals, and the names of its slots in the order of their
    ``%s``."""

    sql: str
    slots: tuple[str, ...]

    @classmethod
    def of(cls, queryset: QuerySet[Any]) -> Statement:
        return cls(*_with_literals(*queryset.query.get_compiler(using=DEFAULT_DB_ALIAS).as_sql()))

    def bind(self, values: Mapping[str, Any]) -> list[Any]:
        """The slots' values, as the statement's parameters (a ``KeyError`` names a slot given no value)."""
        return [values[name] for name in self.slots]


def _with_literals(sql: str, params: Sequence[Any]) -> tuple[str, tuple[str, ...]]:
    """``sql`` with each parameter that is not a slot written in as a literal (psycopg's quoting, with the default
    connection's adapters), and the slots' names in order."""
    connection.ensure_connection()
    values, slots = iter(params), []

    def fill(placeholder: re.Match[str]) -> str:
        if placeholder[0] == "%%":  # a literal percent sign, which stays escaped for the execution's own binding
            return "%%"
        value = next(values)
        if isinstance(value, Slot):
            slots.append(value.name)
            return "%s"
        return Literal(value).as_string(connection.connection).replace("%", "%%")

    return _PLACEHOLDER.sub(fill, sql), tuple(slots)


@dataclass(frozen=True)
class CompiledRead(Statement):
    """A queryset of one model compiled once, read as records: named tuples of the columns' attribute names and the
    annotations, in the order selected. They carry what the queryset's model instances would, as attributes, without
    the instances' building (a tenth of a queue page's CPU)."""

    record: Any  # a collections.namedtuple class

    @classmethod
    def of_rows(cls, queryset: QuerySet[Any]) -> CompiledRead:
        compiler = queryset.query.get_compiler(using=DEFAULT_DB_ALIAS)  # where binding_cursor runs it
        sql, slots = _with_literals(*compiler.as_sql())
        klass_info = compiler.klass_info
        if not klass_info or klass_info.get("related_klass_infos") or compiler.query.extra_select:
            raise ValueError("a compiled read is of one model's columns and annotations")
        columns = [compiler.select[i][0].target.attname for i in klass_info["select_fields"]]
        annotations = list(compiler.annotation_col_map)
        if len(compiler.select) != len(columns) + len(annotations) or list(compiler.annotation_col_map.values()) != list(
            range(len(columns), len(compiler.select))
        ):
            raise ValueError("a compiled read selects the model's columns, then its annotations")
        return cls(sql, slots, namedtuple(f"{queryset.model.__name__}Record", [*columns, *annotations]))

    def records(self, **values: Any) -> list[Any]:
        """The rows, each a :attr:`record`. Read in PostgreSQL's binary format: psycopg's C loaders read it (for
        the text format Django registers a timestamp loader of its own, in Python: a sixth of the reading)."""
        with binding_cursor(binary=True) as cursor:
            cursor.execute(self.sql, self.bind(values))
            return list(map(self.record._make, cursor.fetchall()))
