"""How a web process uses the database, shared by every service's use of it: a bounded pool, and a time limit on
each statement."""
from __future__ import annotations

from django.conf import settings
from django.db import connections


def configure_web_connections() -> None:
    """Give this web process a pool of at most ``DB_POOL_MAX_SIZE`` PostgreSQL connections, each cancelling a statement
    that runs past ``DB_STATEMENT_TIMEOUT_MS`` (0: never). Call it once at start-up, before the first query.

    Why a pool: Django under ASGI runs each request's sync code in a thread of its own, and gives each thread its own
    connection; without a pool, 50 concurrent clients took 50+ backends and PostgreSQL's ``max_connections`` ran out
    (500s). With it, a request borrows a connection when it first queries and gives it back when it ends (Django's
    pool needs ``CONN_MAX_AGE = 0``: "closing" is the return); a request that finds none free waits up to
    ``DB_POOL_TIMEOUT_SECONDS``, then the API answers 503 with ``Retry-After`` (the pool's timeout is an
    ``OperationalError``, tts_common.api). The web server also admits no more requests at once than the pool holds
    (tts_common.web_server.ConcurrencyLimit), so the wait is normally in the event loop, not in a thread.

    Why the web process only: a Celery worker process runs one task at a time and keeps its one connection across
    tasks (``CONN_MAX_AGE``): a pool would add nothing there, and its filler threads do not survive prefork's fork.
    The statement timeout is for requests only: a worker's batch may take what it takes.
    """
    database = connections.settings["default"]
    options = database.setdefault("OPTIONS", {})
    if settings.DB_STATEMENT_TIMEOUT_MS:
        # A startup option, sent with the connection: no statement per connection or per request.
        timeout = f"-c statement_timeout={settings.DB_STATEMENT_TIMEOUT_MS}"
        options["options"] = f"{options.get('options', '')} {timeout}".strip()
    options["pool"] = {
        "min_size": settings.DB_POOL_MIN_SIZE,
        "max_size": settings.DB_POOL_MAX_SIZE,
        "timeout": settings.DB_POOL_TIMEOUT_SECONDS,
        "name": "web",
    }
    database["CONN_MAX_AGE"] = 0
