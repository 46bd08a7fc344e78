"""The embedded broker: kombu's filesystem transport, with each message written whole before a reader can see it.

kombu's writer creates a message file under its final name and only then writes it, and its reader takes any file
of its queue without waiting for the writer's lock: a reader in another process that comes in between reads an
empty message, which kills a Celery worker ("Unrecoverable error: JSONDecodeError") and with it ``runall``. Here a
message is written under a name no reader looks for and renamed into place, which is atomic within one folder.
Selected for ``filesystem://`` URLs by tts/settings.py.
"""
from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    # kombu-stubs' filesystem and virtual channels name this parameter differently: no override satisfies both.
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # A reader takes files whose name contains ".<queue>.msg": this one's doesn't, until the rename.
        partial = os.path.join(self.data_folder_out, f".writing-{uuid.uuid4()}")
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.rename(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
