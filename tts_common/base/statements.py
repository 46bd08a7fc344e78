"""Reads the ORM compiles once per process and the database runs per request, each value bound as a parameter.

Why: building a list's queryset and compiling it (Django's compiler resolves, names and renders every expression
each time) costs a millisecond or more of CPU a request, for SQL text that never changes between requests; only
the values do. A :class:`CompiledRead` is a queryset compiled once with a :class:`Slot` wherever a request's value
goes, and is then executed with the values bound by name. The ORM stays the only author of the SQL: the statement
is exactly what the same queryset compiles to, with the slots' values in place.

The statement is sent with server-side binding (:func:`~tts_common.base.database.binding_cursor`), so psycopg
prepares it on a web connection that runs it often: PostgreSQL then parses it no more. It still plans it for each
execution's values unless its generic plan looks as cheap (the agent's queue's does not, rightly: bench/README.md).

Accepted: only plain reads of one model's columns and annotations (no select_related, prefetch or values()), read as
records rather than model instances (nothing to save or relate); a value that decides the query's shape (a None, a
list that may be empty, a LIMIT) is not a slot, so each shape is a statement of its own (the callers cache one per
shape)."""
from __future__ import annotations

from collections import namedtuple
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Expression, Field, Lookup, QuerySet

from tts_common.base.database import binding_cursor


class Slot(Expression):
    """A value bound by name each time the compiled statement runs (``%s`` in the SQL)."""

    def __init__(self, name: str, output_field: Field[Any, Any] | None = None) -> None:
        super().__init__(output_field=output_field)
        self.name = name

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        return "%s", (self,)

    def __repr__(self) -> str:
        return f"Slot({self.name!r})"


class AnyOf(Lookup):
    """``column = ANY(<array>)``: several values of one column as one bound array (``IN`` takes a parameter per value,
    so a different number of values would be a different statement)."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", (*lhs_params, *rhs_params)


@dataclass(frozen=True)
class Statement:
    """A queryset's SQL and parameters, slots among them."""

    sql: str
    params: tuple[Any, ...]

    @classmethod
    def of(cls, queryset: QuerySet[Any]) -> Statement:
        sql, params = queryset.query.get_compiler(using=DEFAULT_DB_ALIAS).as_sql()
        return cls(sql, tuple(params))

    def bind(self, values: Mapping[str, Any]) -> list[Any]:
        """The parameters with each slot's value (a ``KeyError`` names a slot given no value)."""
        return [values[param.name] if isinstance(param, Slot) else param for param in self.params]


@dataclass(frozen=True)
class CompiledRead(Statement):
    """A queryset of one model compiled once, read as records: named tuples of the columns' attribute names and the
    annotations, in the order selected. They carry what the queryset's model instances would, as attributes, without
    the instances' building (a tenth of a queue page's CPU)."""

    record: Any  # a collections.namedtuple class

    @classmethod
    def of_rows(cls, queryset: QuerySet[Any]) -> CompiledRead:
        compiler = queryset.query.get_compiler(using=DEFAULT_DB_ALIAS)  # where binding_cursor runs it
        sql, params = compiler.as_sql()
        klass_info = compiler.klass_info
        if not klass_info or klass_info.get("related_klass_infos") or compiler.query.extra_select:
            raise ValueError("a compiled read is of one model's columns and annotations")
        columns = [compiler.select[i][0].target.attname for i in klass_info["select_fields"]]
        annotations = list(compiler.annotation_col_map)
        if len(compiler.select) != len(columns) + len(annotations) or list(compiler.annotation_col_map.values()) != list(
            range(len(columns), len(compiler.select))
        ):
            raise ValueError("a compiled read selects the model's columns, then its annotations")
        return cls(sql, tuple(params), namedtuple(f"{queryset.model.__name__}Record", [*columns, *annotations]))

    def records(self, **values: Any) -> list[Any]:
        """The rows, each a :attr:`record`. Read in PostgreSQL's binary format: psycopg's C loaders read it (for
        the text format Django registers a timestamp loader of its own, in Python: a sixth of the reading)."""
        with binding_cursor(binary=True) as cursor:
            cursor.execute(self.sql, self.bind(values))
            return list(map(self.record._make, cursor.fetchall()))
