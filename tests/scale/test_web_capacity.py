"""A web process holds at most DB_POOL_MAX_SIZE connections and runs as many requests at once; a request that finds
none free waits WEB_QUEUE_TIMEOUT_SECONDS, then answers 503 with Retry-After and the API's error body, never a 500."""
from __future__ import annotations

import threading
import time

import psycopg
import pytest
import requests
from django import db
from django.db import connection
from django.db.backends.postgresql.base import DatabaseWrapper

from tests.conftest import wait_for
from tests.workflow_api.factories import access_token
from tts_common.http.api import exception_handler

BUSY = {"status": 503, "code": "unavailable", "detail": "The database is busy or unavailable; try again shortly."}


def test_a_request_past_the_pool_waits_then_answers_503_and_the_held_one_still_answers(asgi_server):
    server = asgi_server(env={"DB_POOL_MIN_SIZE": "1", "DB_POOL_MAX_SIZE": "1", "WEB_QUEUE_TIMEOUT_SECONDS": "0.5"})
    headers = {"Authorization": f"Bearer {access_token(1, 'admin', is_admin=True)}"}
    url = f"{server.url}/tasks/"
    assert requests.get(url, headers=headers, timeout=10).status_code == 200
    with _connect() as blocker:
        with blocker.cursor() as cursor:  # the one request's statement waits behind this lock
            cursor.execute("LOCK TABLE workflow_api_task IN ACCESS EXCLUSIVE MODE")
        held: list[requests.Response] = []
        holder = threading.Thread(target=lambda: held.append(requests.get(url, headers=headers, timeout=30)))
        holder.start()
        with _connect() as observer:  # until the held request waits on the lock, holding the one slot
            observer.autocommit = True
            wait_for(lambda: _lock_waiters(observer), timeout=10, interval=0.05, message="the request at the lock")
        started = time.monotonic()
        refused = requests.get(url, headers=headers, timeout=10)
        waited = time.monotonic() - started
        blocker.rollback()
    holder.join(30)
    assert refused.status_code == 503, refused.text
    assert refused.json() == BUSY
    assert int(refused.headers["Retry-After"]) > 0
    assert 0.5 <= waited < 5, waited
    assert held[0].status_code == 200, held[0].text
    assert '"operation": "overloaded"' in server.log_path.read_text()  # logged, though Django never saw it


def test_the_pools_own_timeout_is_the_same_503(transactional_db):
    """A thread that finds the pool empty (a WebSocket consumer holding a connection can cause it) gets psycopg's
    PoolTimeout, which Django raises as an OperationalError: the API answers it as the busy 503."""
    options = {**connection.settings_dict["OPTIONS"], "pool": {"min_size": 1, "max_size": 1, "timeout": 0.2}}
    settings_dict = {**connection.settings_dict, "CONN_MAX_AGE": 0, "OPTIONS": options}
    holder, waiter = DatabaseWrapper(settings_dict, alias="exhausted"), DatabaseWrapper(settings_dict, alias="exhausted")
    holder.ensure_connection()
    try:
        with pytest.raises(db.OperationalError) as raised:
            waiter.ensure_connection()
    finally:
        holder.close()
        holder.close_pool()
    response = exception_handler(raised.value, {})
    assert response.status_code == 503
    assert response.data == BUSY
    assert int(response["Retry-After"]) > 0


def _connect() -> psycopg.Connection:
    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"], user=settings["USER"], password=settings["PASSWORD"], host=settings["HOST"],
        port=settings["PORT"],
    )  # fmt: skip


def _lock_waiters(observer: psycopg.Connection) -> int:
    sql = "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'workflow_api_task'::regclass"
    return observer.execute(sql).fetchone()[0]
