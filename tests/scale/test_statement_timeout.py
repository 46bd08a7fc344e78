"""A web request whose query cannot finish answers 503 with Retry-After once DB_STATEMENT_TIMEOUT_MS has passed,
instead of hanging; processes other than the web server (workers, commands, this test) have no such limit."""
from __future__ import annotations

import time

import psycopg
import requests
from django.db import connection

from tests.workflow_api.factories import access_token


def test_a_query_stuck_behind_a_lock_answers_503_then_the_list_answers_again(asgi_server):
    server = asgi_server(env={"DB_STATEMENT_TIMEOUT_MS": "400"})
    headers = {"Authorization": f"Bearer {access_token(1, 'admin', is_admin=True)}"}
    assert requests.get(f"{server.url}/tasks/", headers=headers, timeout=10).status_code == 200

    settings = connection.settings_dict
    blocker = psycopg.connect(
        dbname=settings["NAME"], user=settings["USER"], password=settings["PASSWORD"], host=settings["HOST"],
        port=settings["PORT"],
    )  # fmt: skip
    try:
        with blocker.cursor() as cursor:  # a migration or a long maintenance job holding the table
            cursor.execute("LOCK TABLE workflow_api_task IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        response = requests.get(f"{server.url}/tasks/", headers=headers, timeout=10)
        waited = time.monotonic() - started
    finally:
        blocker.rollback()
        blocker.close()
    assert response.status_code == 503, response.text
    assert response.json() == {
        "status": 503, "code": "unavailable", "detail": "The database is busy or unavailable; try again shortly."
    }  # fmt: skip
    assert int(response.headers["Retry-After"]) > 0
    assert 0.4 <= waited < 5, waited
    assert requests.get(f"{server.url}/tasks/", headers=headers, timeout=10).status_code == 200


def test_only_the_web_server_limits_statement_time(transactional_db):
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone() == ("0",)
