"""JSON from outside (request bodies, WebSocket frames, queue messages), parsed so that its nesting cannot crash us.

Python's JSON parser recurses once per level: 100k nested ``[`` raise ``RecursionError``, which no caller expects
(a 500, a dropped socket). A value only a few hundred levels deep parses, yet breaks whatever walks it later, deeper
in the stack: validation, the database's JSON encoder, a dead letter's. So JSON from outside is refused past
:data:`MAX_DEPTH` levels, with a ``ValueError`` like any other malformed JSON. No legitimate body or message comes
near it (a ticket message is 5 levels deep: body, kwargs, ticket, attachments, attachment).
"""
from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64
# What decoded JSON nests in (a protocol-1 Celery body's arguments are a tuple).
_CONTAINERS = (dict, list, tuple)


class JSONTooDeep(ValueError):
    def __init__(self) -> None:
        super().__init__(f"JSON nested deeper than {MAX_DEPTH} levels")


def check_depth(value: Any) -> None:
    """Raise :class:`JSONTooDeep` if the decoded JSON ``value`` nests arrays and objects past :data:`MAX_DEPTH`.
    Level by level, without recursion (~4 us for a ticket message: it runs on every message of the intake)."""
    level = [value] if type(value) in _CONTAINERS else []
    depth = 0
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            raise JSONTooDeep()
        deeper = []
        for item in level:
            for child in item.values() if type(item) is dict else item:
                if type(child) in _CONTAINERS:
                    deeper.append(child)
        level = deeper


def loads(text: str | bytes) -> Any:
    """``json.loads`` for untrusted text: ``ValueError`` (:class:`JSONTooDeep` for nesting) on anything malformed."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise JSONTooDeep() from None
    check_depth(value)
    return value
