"""Each pytest-xdist worker on a stack of its own (loaded with ``-p tests.stack_per_worker``, before pytest-django
reads the settings).

Tests share nothing through the database (pytest-django gives each worker its own test database, ``test_tts_gw0``),
but they do through the other servers: a test empties the TTS queues of its broker, clears its Redis cache and
counts the consumers on a queue. So worker ``gwN`` gets its own RabbitMQ virtual host (:func:`worker_vhost`; made by
scripts/test, which ``python -m tests.stack_per_worker <workers>`` tells their names), its own Redis database
(``TEST_REDIS_FIRST_DB`` + N, 10 + N unless set: apart from a developer's usual 0) and its own channel-layer prefix.
Servers and workers a test starts inherit them (they copy os.environ). Without xdist (``TEST_WORKERS=0``) nothing
changes."""
from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import pytest


def worker_vhost(broker_url: str, worker: str) -> str:
    """``tts-test-gwN`` on the default virtual host, ``<vhost>-test-gwN`` on another (so that suites on two stacks
    of one machine stay apart)."""
    base = urlsplit(broker_url).path.lstrip("/")
    return f"{base or 'tts'}-test-{worker}"


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests() -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    number = int(worker.removeprefix("gw"))
    broker = os.environ["CELERY_BROKER_URL"]
    os.environ["CELERY_BROKER_URL"] = urlunsplit(urlsplit(broker)._replace(path=f"/{worker_vhost(broker, worker)}"))
    redis = urlsplit(os.environ["REDIS_URL"])
    database = int(os.environ.get("TEST_REDIS_FIRST_DB", "10")) + number
    os.environ["REDIS_URL"] = urlunsplit(redis._replace(path=f"/{database}"))
    os.environ["CHANNEL_LAYER_PREFIX"] = f"{os.environ.get('CHANNEL_LAYER_PREFIX', 'tts')}-{worker}"


if __name__ == "__main__":  # scripts/test: the virtual hosts of this many workers, one a line
    import sys

    for number in range(int(sys.argv[1])):
        print(worker_vhost(os.environ["CELERY_BROKER_URL"], f"gw{number}"))
