"""Django's PostgreSQL backend, retrying a connection the database refuses (``ENGINE = "tts_common.postgresql"``),
checking a pooled connection only when it has been idle (:func:`check_unless_just_used`), and building no pattern
index beside an indexed text column (:class:`DatabaseSchemaEditor`).

A restart or failover refuses connections for a moment: a new connection is tried 3 more times, 0.1, 0.25 and 0.5 s
apart, and the attempts stop once a second has passed, so that a request waits at most about a second before the
API answers 503 with Retry-After (tts_common.http.api). Written against Django's exception classes, not a driver's: it
holds for any driver (and pool) Django's backend uses.
"""
from __future__ import annotations

import time
import weakref
from typing import Any

import psycopg
from django.db import OperationalError
from django.db.backends.postgresql import base, operations, schema
from psycopg_pool import ConnectionPool

CONNECT_RETRY_PAUSES_SECONDS = (0.1, 0.25, 0.5)
CONNECT_BUDGET_SECONDS = 1.0
# A pooled connection given back this recently is lent again unchecked (HikariCP's "alive bypass window").
JUST_USED_SECONDS = 1.0

_given_back_at: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


def check_unless_just_used(connection: Any) -> None:
    """The pool's check of a connection it lends (a round trip to the server), skipped for one given back within
    JUST_USED_SECONDS: that one worked a moment ago. Checking each loan was the one statement of every web request
    that touched the database, and 7 % of a web process's CPU under 50 clients. What is accepted: a server restarted
    within that second fails the next request on such a connection (the API answers 503 with Retry-After, and the
    pool discards the broken connection); a connection idle for longer is checked as before."""
    if time.monotonic() - _given_back_at.get(connection, float("-inf")) < JUST_USED_SECONDS:
        return
    ConnectionPool.check_connection(connection)


class DatabaseOperations(operations.DatabaseOperations):
    def last_executed_query(self, cursor: Any, sql: str, params: Any) -> Any:  # str, or None (Django's too)
        """A statement sent with its values apart (tts_common.base.database.binding_cursor) as the SQL it ran, the
        values in place, as Django shows its own statements: Django's shows it with $1, $2, ... (query logs and
        tests that EXPLAIN what a request ran need the values)."""
        if params and not isinstance(cursor, psycopg.ClientCursor):
            try:
                return str(self.compose_sql(sql, params))
            except (psycopg.Error, TypeError, ValueError):  # a value mogrify cannot write as text (``%b``)
                pass
        return super().last_executed_query(cursor, sql, params)


class DatabaseSchemaEditor(schema.DatabaseSchemaEditor):
    def _create_like_index_sql(self, model: Any, field: Any) -> None:
        """None: Django adds to each indexed varchar or text column a second index (``varchar_pattern_ops``) for
        ``LIKE 'prefix%'`` (``__startswith``). Nothing here filters so, and each was one more index every insert
        writes, most of random keys (ticket ids, notification dedup keys) on intake's path. Without them and the
        foreign-key indexes a composite index already starts with (the migrations ``*_unread_indexes``), intake at
        1,000,000 tasks went from 0.86 to 0.93 of its rate on an empty database (bench/README.md, interleaved
        runs). A prefix search would need its pattern index declared in the model's Meta."""
        return None


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
    SchemaEditorClass = DatabaseSchemaEditor

    def ensure_connection(self) -> None:
        started = time.monotonic()
        for pause in CONNECT_RETRY_PAUSES_SECONDS:
            try:
                return super().ensure_connection()
            except OperationalError:
                if time.monotonic() - started + pause > CONNECT_BUDGET_SECONDS:
                    raise
                time.sleep(pause)
        return super().ensure_connection()

    @property
    def pool(self) -> Any:
        """Django's pool, whose check of each loan (CONN_HEALTH_CHECKS) is :func:`check_unless_just_used`."""
        pool = super().pool
        if pool is not None and pool._check is ConnectionPool.check_connection:
            pool._check = check_unless_just_used
        return pool

    def close(self) -> None:
        if self.pool and self.connection is not None:  # closing gives it back to the pool
            _given_back_at[self.connection] = time.monotonic()
        super().close()
