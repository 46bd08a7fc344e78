"""The Celery no-op ceiling: a stock Celery app whose one task does a single Redis INCR. What one worker drains of
it is the most any one-message-per-task consumer could do on this machine; intake figures are read against it.

    celery -A noop_celery worker -Q bench-noop -c 2      (from bench/; bench/ingest.py runs it as its "noop" run)
"""
from __future__ import annotations

import os

import redis
from celery import Celery

QUEUE = "bench-noop"
COUNTER = "bench:noop:done"

app = Celery("noop", broker=os.environ.get("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//"))
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=128, task_ignore_result=True, worker_hijack_root_logger=False)
_redis = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))


@app.task(name="bench.noop")
def noop() -> None:
    _redis.incr(COUNTER)
