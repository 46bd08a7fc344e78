"""The embedded broker (tts_common.messaging.embedded_broker): a reader never sees a message before it is written whole."""
from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from kombu import Connection

MESSAGES = 1000


def _publish(folder: str, count: int) -> None:
    options = {"data_folder_in": folder, "data_folder_out": folder}
    with Connection("filesystem://", transport_options=options) as conn:
        queue = conn.SimpleQueue("race")
        for n in range(count):
            queue.put({"n": n, "padding": "x" * 2000})


def test_a_reader_polling_while_another_process_writes_gets_every_message_whole(tmp_path: Path) -> None:
    from django.conf import settings  # the settings select the embedded transport for filesystem:// URLs

    assert settings.CELERY_BROKER_URL  # loaded
    from kombu.transport import TRANSPORT_ALIASES

    TRANSPORT_ALIASES["filesystem"] = "tts_common.messaging.embedded_broker:Transport"
    folder = str(tmp_path)
    writers = [multiprocessing.get_context("fork").Process(target=_publish, args=(folder, MESSAGES)) for _ in range(2)]
    for writer in writers:
        writer.start()
    seen = []
    options = {"data_folder_in": folder, "data_folder_out": folder, "polling_interval": 0}
    with Connection("filesystem://", transport_options=options) as conn:
        queue = conn.SimpleQueue("race")
        while len(seen) < 2 * MESSAGES:
            message = queue.get(timeout=30)  # an empty or partial file would raise a decode error here
            seen.append(message.payload["n"])
            message.ack()
    for writer in writers:
        writer.join(30)
    assert sorted(seen) == sorted(list(range(MESSAGES)) * 2)


def test_a_message_being_written_is_invisible_to_readers(tmp_path: Path, monkeypatch) -> None:
    """The writer stopped half-way (as a preempted process is): kombu's reader would take the file and fail on its
    empty body; here it is not a message until renamed."""
    from tts_common.messaging import embedded_broker

    folder = str(tmp_path)
    options = {"data_folder_in": folder, "data_folder_out": folder, "polling_interval": 0}
    with Connection("filesystem://", transport=embedded_broker.Transport, transport_options=options) as conn:
        queue = conn.SimpleQueue("race")

        def write_then_stop(src: str, dst: str) -> None:
            written = Path(src).read_bytes()
            assert written and not Path(src).name.endswith(".race.msg")
            # Mid-write: a reader polling now finds nothing.
            with pytest.raises(queue.Empty):
                queue.get(block=False)
            real_rename(src, dst)

        real_rename = os.rename
        # Only the writer's own rename is intercepted (kombu's reader moves files with os.rename too).
        monkeypatch.setattr(embedded_broker, "os", SimpleNamespace(path=os.path, rename=write_then_stop))
        queue.put({"n": 1})
        assert queue.get(timeout=5).payload == {"n": 1}
