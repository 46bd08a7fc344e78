"""Bulk writes with PostgreSQL's ``COPY … FROM STDIN`` for generated data: rows as dicts of a model's columns,
any column left out taken from the model's default, so a new column with a default needs no change here."""
from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, models

_NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_SPECIAL = re.compile(r"[\\\t\n\r]")


class Raw(str):
    """A value already in COPY's text format (e.g. a JSON document serialized once and used for many rows)."""


def _string(value: Any) -> str:
    if value is None:
        return _NULL
    if type(value) is Raw:
        return value
    return value.translate(_ESCAPES) if _SPECIAL.search(value) else value


def _plain(value: Any) -> str:
    """Numbers and UUIDs: their str() needs no escaping."""
    return _NULL if value is None else str(value)


def _timestamp(value: Any) -> str:
    return _NULL if value is None else value.isoformat()


def _boolean(value: Any) -> str:
    return _NULL if value is None else ("t" if value else "f")


def _text(value: Any) -> str:
    """One value of a column whose type :func:`_formatter` does not single out, in COPY's text format."""
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return _boolean(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (int, float, Decimal, uuid.UUID)):
        return _plain(value)
    if isinstance(value, (datetime, date, time)):
        return _timestamp(value)
    if isinstance(value, timedelta):
        return f"{value.total_seconds()} seconds"
    raise TypeError(f"no COPY text for {type(value).__name__}")


def _json_text(value: Any) -> str:
    if value is None:
        return _NULL
    if type(value) is Raw:
        return value
    return _string(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def raw_json(value: Any) -> Raw:
    """``value`` serialized for a JSON column once, to be given to many rows."""
    return Raw(_json_text(value))


def _formatter(field: models.Field) -> Callable[[Any], str]:
    if isinstance(field, models.JSONField):
        return _json_text
    if isinstance(field, models.BooleanField):
        return _boolean
    if isinstance(field, models.DateTimeField):
        return _timestamp
    if isinstance(field, (models.IntegerField, models.AutoField, models.UUIDField, models.ForeignKey)):
        return _plain
    if isinstance(field, (models.CharField, models.TextField)):
        return _string
    return _text


class CopyTable:
    """Buffers rows for one model's table; :meth:`flush` sends them in one COPY."""

    def __init__(self, model: type[models.Model]) -> None:
        self.model = model
        fields = [f for f in model._meta.concrete_fields if not f.generated]  # the database computes those
        self.columns = [f.column for f in fields]
        self._keys = [f.attname for f in fields]
        self._formatters = [_formatter(f) for f in fields]
        self._defaults = {
            f.attname: f.get_default() for f in fields if f.has_default() or f.null or isinstance(f, models.AutoField)
        }
        self._spec = [(key, fmt, self._defaults.get(key)) for key, fmt in zip(self._keys, self._formatters, strict=True)]
        self._checked = False
        self._buffer = io.StringIO()
        self.count = 0

    def add(self, row: dict[str, Any]) -> None:
        if not self.count and not self._checked:
            missing = [key for key in self._keys if key not in row and key not in self._defaults]
            if missing:
                raise KeyError(f"{self.model.__name__}: the generator must give {missing} (no default)")
            self._checked = True
        get = row.get
        self._buffer.write("\t".join([fmt(get(key, default)) for key, fmt, default in self._spec]))
        self._buffer.write("\n")
        self.count += 1

    def flush(self) -> None:
        if not self.count:
            return
        self._buffer.seek(0)
        table = connection.ops.quote_name(self.model._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(c) for c in self.columns)
        sql = f"COPY {table} ({columns}) FROM STDIN"
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            copy.write(self._buffer.getvalue())
        self._buffer = io.StringIO()
        self.count = 0


def bulk_load_session() -> None:
    """For the current transaction: no waiting for the WAL flush at commit, and — where the role may (a superuser,
    as on development machines) — no per-row foreign-key triggers: the generator writes parents before children."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO off")
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if cursor.fetchone()[0]:
            cursor.execute("SET LOCAL session_replication_role TO replica")


def next_ids(model: type[models.Model]) -> int:
    """The first id after the table's highest (generated rows take ids from here; see :func:`advance_sequence`)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {connection.ops.quote_name(model._meta.db_table)}")
        return int(cursor.fetchone()[0])


def advance_sequence(model: type[models.Model]) -> None:
    """Move the id sequence past ids given explicitly, so the application's own inserts don't collide with them."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence(%s, 'id'), COALESCE((SELECT MAX(id) FROM {connection.ops.quote_name(table)}), 1))",
            [table],
        )
