"""The web pool checks a connection it lends only when the connection has been idle (tts_common.postgresql.base):
a connection given back a moment ago is lent as it is; one idle for longer is checked, and a dead one replaced.
Against the real PostgreSQL: the backend behind a pooled connection is terminated, as a restart would."""
from __future__ import annotations

import copy
import time
from collections.abc import Iterator

import pytest
from django.db import OperationalError, connection, connections

from tts_common.postgresql import base

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pooled() -> Iterator[base.DatabaseWrapper]:
    settings = copy.deepcopy(connections.settings["default"])
    settings.update(CONN_MAX_AGE=0, CONN_HEALTH_CHECKS=True)
    settings["OPTIONS"] = {**settings.get("OPTIONS", {}), "pool": {"min_size": 1, "max_size": 1, "timeout": 5}}
    wrapper = base.DatabaseWrapper(settings, alias="pool-checks")
    try:
        yield wrapper
    finally:
        wrapper.close()
        wrapper.close_pool()


def backend_pid(wrapper: base.DatabaseWrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid: int = cursor.fetchone()[0]
    return pid


def borrow_terminate_and_give_back(wrapper: base.DatabaseWrapper) -> int:
    pid = backend_pid(wrapper)
    wrapper.close()  # back to the pool
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
    return pid


def test_a_connection_just_given_back_is_lent_unchecked(pooled):
    borrow_terminate_and_give_back(pooled)
    # Within JUST_USED_SECONDS: no round trip first, so the dead connection is what the next request gets (the
    # accepted cost: that request fails, and the API answers 503).
    with pytest.raises(OperationalError):
        backend_pid(pooled)


def test_a_connection_idle_past_the_window_is_checked_and_replaced(pooled, monkeypatch):
    monkeypatch.setattr(base, "JUST_USED_SECONDS", 0.05)
    dead = borrow_terminate_and_give_back(pooled)
    time.sleep(0.2)
    assert backend_pid(pooled) != dead  # the check found it dead; the pool lent a new connection
