"""JSON from outside (request bodies, WebSocket frames, queue messages), parsed so that its nesting cannot crash us.

Python's JSON parser recurses once per level: 100k nested ``[`` raise ``RecursionError``, which no caller expects
(a 500, a dropped socket). A value only a few hundred levels deep parses, yet breaks whatever walks it later, deeper
in the stack: validation, the database's JSON encoder, a dead letter's. So JSON from outside is refused past
:data:`MAX_DEPTH` levels, with a ``ValueError`` like any other malformed JSON; and so are ``NaN`` and ``Infinity``,
which Python's parser accepts but are not JSON, and which PostgreSQL's jsonb refuses (a statement storing the message,
or its dead letter, would fail). No legitimate body or message comes
near it (a ticket message is 5 levels deep: body, kwargs, ticket, attachments, attachment).
"""
from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 64
# What decoded JSON nests in (a protocol-1 Celery body's arguments are a tuple).
_CONTAINERS = (dict, list, tuple)


class JSONTooDeep(ValueError):
    def __init__(self) -> None:
        super().__init__(f"JSON nested deeper than {MAX_DEPTH} levels")


class NonFiniteNumber(ValueError):
    def __init__(self) -> None:
        super().__init__("NaN and Infinity are not JSON numbers")


def check_decoded(value: Any) -> None:
    """Raise :class:`JSONTooDeep` if the decoded JSON ``value`` nests arrays and objects past :data:`MAX_DEPTH`,
    :class:`NonFiniteNumber` if it holds NaN or an infinity. Level by level, without recursion (a few microseconds
    for a ticket message: it runs on every message of the intake)."""
    if type(value) is float and not math.isfinite(value):
        raise NonFiniteNumber()
    level = [value] if type(value) in _CONTAINERS else []  # the arrays and objects ``depth`` levels down
    depth = 0
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            raise JSONTooDeep()
        deeper = []
        for item in level:
            for child in item.values() if type(item) is dict else item:
                kind = type(child)
                if kind in _CONTAINERS:
                    deeper.append(child)
                elif kind is float and not math.isfinite(child):
                    raise NonFiniteNumber()
        level = deeper


def loads(text: str | bytes) -> Any:
    """``json.loads`` for untrusted text: ``ValueError`` on anything malformed, too deep or not finite."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise JSONTooDeep() from None
    check_decoded(value)
    return value
