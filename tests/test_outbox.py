"""The transactional outbox (tts_common.messaging.outbox) on the real database and broker: rows live and die with their
transaction, are published after commit and deleted once confirmed; the relay publishes what a killed process left,
once however many relays run; messages sharing an ordering key leave in commit order."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone
from kombu import Connection

from tests.conftest import _process_env, run_concurrently, wait_for
from tts.celery import app
from tts_common import contracts
from tts_common.base.logging import CORRELATION_HEADER, bound_correlation_id
from tts_common.messaging import outbox
from tts_common.models import OutboxMessage

pytestmark = pytest.mark.django_db(transaction=True)

# A queue no worker consumes: what arrives there is exactly what the outbox published.
PROBE = contracts.Route("tests.outbox.probe", "tests-outbox-probe")


@pytest.fixture
def probe(broker: Connection) -> Iterator[Any]:
    queue = contracts.declared_queue(PROBE.queue)(broker.default_channel)
    queue.declare()
    queue.purge()
    yield queue
    queue.purge()


def received(queue: Any) -> list[tuple[str, list[Any], dict[str, Any], str | None]]:
    """``(message id, args, kwargs, correlation id)`` of every message waiting in ``queue`` (removed)."""
    messages = []
    while (message := queue.get(no_ack=True)) is not None:
        args, kwargs, _embed = message.decode()
        messages.append((message.headers["id"], args, kwargs, message.headers.get(CORRELATION_HEADER)))
    return messages


def failing_transport(*_: Any) -> None:
    raise ConnectionRefusedError("broker unreachable")


def test_rows_are_written_in_the_transaction_published_after_commit_then_deleted(probe) -> None:
    messages = [outbox.Message(PROBE, {"n": n}) for n in range(3)]
    with bound_correlation_id("corr-1"), transaction.atomic():
        outbox.publish(messages)
        # Written (one INSERT) in the transaction, nothing sent before the commit.
        assert sorted(OutboxMessage.objects.values_list("id", flat=True)) == sorted(m.id for m in messages)
        assert received(probe) == []
    assert received(probe) == [(str(m.id), [], {"n": n}, "corr-1") for n, m in enumerate(messages)]
    assert not OutboxMessage.objects.exists()


def test_a_rolled_back_transaction_publishes_nothing(probe) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox.publish_one(PROBE, n=1)
        raise RuntimeError("rolled back")
    assert received(probe) == [] and not OutboxMessage.objects.exists()


def test_a_broker_refusal_keeps_the_rows_for_the_relay(probe, monkeypatch) -> None:
    with monkeypatch.context() as outage:
        outage.setattr(outbox, "publish_batch", failing_transport)
        with bound_correlation_id("corr-2"):
            outbox.publish_one(PROBE, args=("x",))
        with pytest.raises(ConnectionRefusedError):
            outbox.relay(min_age_seconds=0)  # still refused: kept for the next run
    assert OutboxMessage.objects.count() == 1
    assert outbox.relay() == 0  # younger than the relay's minimum age: the normal path's to send
    [row] = OutboxMessage.objects.all()
    assert outbox.relay(min_age_seconds=0) == 1
    assert received(probe) == [(str(row.id), ["x"], {}, "corr-2")] and not OutboxMessage.objects.exists()


KILLED_AFTER_COMMIT = """
import os, signal, django
django.setup()
from django.db import transaction
from tts_common import contracts
from tts_common.messaging import outbox
with transaction.atomic():
    transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))  # runs before the outbox's own callback
    outbox.publish_one(contracts.Route({task!r}, {queue!r}), n=7)
"""


def test_a_process_killed_between_commit_and_publish_loses_nothing(probe) -> None:
    child = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_COMMIT.format(task=PROBE.task, queue=PROBE.queue)],
        env={**_process_env(), "DJANGO_SETTINGS_MODULE": "tts.settings"},
        capture_output=True,
        timeout=60,
    )
    assert child.returncode == -9, child.stderr.decode()[-2000:]
    [row] = OutboxMessage.objects.all()
    assert received(probe) == []
    assert outbox.relay(min_age_seconds=0) == 1
    assert received(probe) == [(str(row.id), [], {"n": 7}, None)]


def test_two_relays_at_once_publish_each_row_once(probe, monkeypatch) -> None:
    with monkeypatch.context() as outage:
        outage.setattr(outbox, "publish_batch", failing_transport)
        outbox.publish([outbox.Message(PROBE, {"n": n}) for n in range(120)])
    transport = outbox.publish_batch

    def slow(envelopes: Any, *args: Any) -> None:  # so that the relays' claims overlap
        time.sleep(0.2)
        transport(envelopes, *args)

    monkeypatch.setattr(outbox, "publish_batch", slow)

    assert sum(run_concurrently(lambda: outbox.relay(min_age_seconds=0, batch_size=20), 2)) == 120
    ids = [message_id for message_id, *_ in received(probe)]
    assert len(ids) == len(set(ids)) == 120 and not OutboxMessage.objects.exists()


def test_messages_of_one_key_leave_in_commit_order(probe, monkeypatch) -> None:
    # The first status is left behind (its process's publish failed); the next transaction's publish sends both,
    # the older first, and a message of another key or none is not held up.
    with monkeypatch.context() as outage:
        outage.setattr(outbox, "publish_batch", failing_transport)
        outbox.publish_one(PROBE, args=("T-1", "in_progress"), ordering_key="T-1")
    outbox.publish(
        [
            outbox.Message(PROBE, args=("T-1", "on_hold"), ordering_key="T-1"),
            outbox.Message(PROBE, args=("T-2", "completed"), ordering_key="T-2"),
        ]
    )
    assert [args for _, args, _, _ in received(probe)] == [["T-1", "in_progress"], ["T-1", "on_hold"], ["T-2", "completed"]]
    assert not OutboxMessage.objects.exists()


def test_the_relay_leaves_a_key_another_publisher_holds(probe, monkeypatch) -> None:
    with monkeypatch.context() as outage:
        outage.setattr(outbox, "publish_batch", failing_transport)
        outbox.publish(
            [outbox.Message(PROBE, args=("T-1", "in_progress"), ordering_key="T-1"), outbox.Message(PROBE, {"free": 1})]
        )
    held, release = threading.Event(), threading.Event()

    def hold_key() -> None:  # as a publisher of T-1 does while it sends the key's rows
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext('T-1'))", [outbox._LOCK_NAMESPACE])
            held.set()
            release.wait(30)
        connection.close()

    holder = threading.Thread(target=hold_key)
    holder.start()
    try:
        assert held.wait(30)
        assert outbox.relay(min_age_seconds=0) == 1
        assert [kwargs for _, _, kwargs, _ in received(probe)] == [{"free": 1}]
    finally:
        release.set()
        holder.join()
    assert outbox.relay(min_age_seconds=0) == 1
    assert [args for _, args, _, _ in received(probe)] == [["T-1", "in_progress"]]


def test_the_relay_is_a_scheduled_job_of_the_workflow_worker(probe, monkeypatch, settings, celery_worker) -> None:
    with monkeypatch.context() as outage:
        outage.setattr(outbox, "publish_batch", failing_transport)
        outbox.publish_one(PROBE, n=1)
    OutboxMessage.objects.update(created_at=timezone.now() - timedelta(seconds=60))  # left by a dead process
    [job] = [job for job in settings.CELERY_BEAT_SCHEDULE.values() if job["task"] == contracts.OUTBOX_RELAY.task]
    assert contracts.OUTBOX_RELAY.queue in contracts.SERVICE_QUEUES["workflow_api"]

    celery_worker(queues=(contracts.OUTBOX_RELAY.queue,), concurrency=1)
    app.send_task(job["task"], queue=contracts.OUTBOX_RELAY.queue)  # as beat sends it
    wait_for(lambda: not OutboxMessage.objects.exists(), timeout=30, message="relayed by the worker")
    assert [kwargs for _, _, kwargs, _ in received(probe)] == [{"n": 1}]
