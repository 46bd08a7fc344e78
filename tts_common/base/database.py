"""How a web process uses the database, shared by every service's use of it: a bounded pool, and a time limit on
each statement."""
from __future__ import annotations

from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections
from django.db.backends.postgresql.base import ServerBindingCursor
from django.db.backends.utils import CursorWrapper
from django.db.models import Model, QuerySet
from psycopg import pq

M = TypeVar("M", bound=Model)

PREPARE_THRESHOLD = 5  # psycopg's own default
# How a web connection plans a statement sent with its values apart (binding_cursor): once, knowing everything but
# the values (configure_web_connections says why).
WEB_PLAN_CACHE_MODE = "force_generic_plan"

# Connections left for manage.py commands, an admin's psql and the health checks of other replicas.
COMMAND_HEADROOM = 5


def configure_web_connections() -> None:
    """Give this web process a pool of at most ``DB_POOL_MAX_SIZE`` PostgreSQL connections, each cancelling a statement
    that runs past ``DB_STATEMENT_TIMEOUT_MS`` (0: never). Call it once at start-up, before the first query.

    Why a pool: Django under ASGI runs each request's sync code in a thread of its own, and gives each thread its own
    connection; without a pool, 50 concurrent clients took 50+ backends and PostgreSQL's ``max_connections`` ran out
    (500s). With it, a request borrows a connection when it first queries and gives it back when it ends (Django's
    pool needs ``CONN_MAX_AGE = 0``: "closing" is the return). The web server admits no more requests at once than
    the pool holds (tts_common.http.web_server.ConcurrencyLimit): the wait for a turn is in the event loop, and a request
    with its turn normally finds a connection free. So ``DB_POOL_TIMEOUT_SECONDS`` is short: it is what a request
    waits while the database is unreachable (the pool retries in the background; a direct connection was refused
    at once) or WebSocket consumers hold the connections; then the API answers 503 with ``Retry-After`` (the pool's
    timeout is an ``OperationalError``, tts_common.http.api).

    Why the web process only: a Celery worker process runs one task at a time and keeps its one connection across
    tasks (``CONN_MAX_AGE``): a pool would add nothing there, and its filler threads do not survive prefork's fork.
    The statement timeout is for requests only: a worker's batch may take what it takes.
    """
    database = connections.settings["default"]
    options = database.setdefault("OPTIONS", {})
    # Startup options, sent with the connection: no statement per connection or per request.
    startup = [f"-c plan_cache_mode={WEB_PLAN_CACHE_MODE}"]
    if settings.DB_STATEMENT_TIMEOUT_MS:
        startup.append(f"-c statement_timeout={settings.DB_STATEMENT_TIMEOUT_MS}")
    options["options"] = " ".join([options.get("options", ""), *startup]).strip()
    # Statements sent with their values apart (binding_cursor) are prepared on a connection that ran them this often:
    # PostgreSQL then parses them no more. Django turns psycopg's preparing off for PgBouncer's sake; its own pool
    # keeps each connection's prepared statements. Statements Django binds itself are never prepared, and are planned
    # for their values each time.
    # And planned once: the web requests' such statements are the compiled reads of tts_common.base.statements, whose
    # constants are written in, so their generic plan is made knowing all but a request's values (a user, a cursor),
    # and is the plan every value gets: the queue page's reads an agent's open tasks by the agent's indexes. Left to
    # PostgreSQL's choice, the busiest agents' queues were planned per request (0.5 ms, half of the database's time
    # for the page): its estimate of their custom plan, a row or two, is cheaper than the generic plan's of an average
    # agent. (The array INSERTs of a web request bound this way have one plan whatever their values.)
    options.setdefault("prepare_threshold", PREPARE_THRESHOLD)
    options["pool"] = {
        "min_size": settings.DB_POOL_MIN_SIZE,
        "max_size": settings.DB_POOL_MAX_SIZE,
        "timeout": settings.DB_POOL_TIMEOUT_SECONDS,
        "name": "web",
    }
    database["CONN_MAX_AGE"] = 0


def check_connection_budget(worker_processes: int) -> int:
    """The connections this machine's processes may hold at once — every web process's whole pool, and one per
    worker process — checked against what PostgreSQL admits (``max_connections`` less its superuser reserve) and
    :data:`COMMAND_HEADROOM`; raises ``ImproperlyConfigured`` naming the numbers when they do not fit. Returns the
    connections it counted."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int"
        )
        admitted = cursor.fetchone()[0]
    needed: int = settings.WEB_WORKERS * settings.DB_POOL_MAX_SIZE + worker_processes
    if needed + COMMAND_HEADROOM > admitted:
        raise ImproperlyConfigured(
            f"{settings.WEB_WORKERS} web process(es) x DB_POOL_MAX_SIZE {settings.DB_POOL_MAX_SIZE} + {worker_processes}"
            f" worker processes = {needed} connections, + {COMMAND_HEADROOM} for commands: more than the {admitted}"
            " PostgreSQL admits (max_connections less superuser_reserved_connections). Lower WEB_WORKERS,"
            " DB_POOL_MAX_SIZE or --concurrency, or raise max_connections."
        )
    return needed


def binding_cursor(*, binary: bool = False) -> CursorWrapper:
    """A cursor of the default connection (its transaction) that sends the parameters apart from the SQL, as Django
    does not: Django's cursor quotes each value into the SQL text in Python, ~25 µs a value, so an array of
    thousands (an ``unnest`` of a batch's rows) costs tenths of a second. Here an array marked ``%b`` in the SQL goes
    in binary, one C loop. Statements still pass Django's execute wrappers (query logging and counting).
    ``binary``: results in PostgreSQL's binary format too."""
    connection.ensure_connection()
    # django-stubs know neither the psycopg cursor under ServerBindingCursor nor that make_cursor wraps a DB-API one.
    cursor: Any = ServerBindingCursor(connection.connection)  # type: ignore[call-arg]
    if binary:
        cursor.format = pq.Format.BINARY
    return connection.make_debug_cursor(cursor) if connection.queries_logged else connection.make_cursor(cursor)


def lock_then_read(rows: QuerySet[M], *related: str) -> list[M]:
    """Lock ``rows`` (``FOR UPDATE`` of their own table, waiting for whoever holds them), then read them afresh with
    ``related`` joined (``select_related``). Call it in a transaction: the locks last to its end.

    Why two statements: a locking read that joins other tables and has to wait for a writer gets, from PostgreSQL's
    re-check of the rows it waited for, the locked table's new row beside the joined rows its snapshot saw. A foreign
    key the writer changed then meets no partner, and Django sees no related object at all: an HDTS status that
    waited for an approval moving its task to the next step saw no current step, and left that step open. The
    second read starts once the locks are held, and sees the writer's commit whole."""
    locked = list(rows.select_for_update(of=("self",)).values_list("pk", flat=True))
    return list(rows.model._default_manager.select_related(*related).filter(pk__in=locked))
