"""Text that PostgreSQL can store. Its text and jsonb types refuse NUL characters, and lone surrogates (which JSON's
``\\ud800`` escapes let into a Python string) have no UTF-8 encoding: either fails the whole statement."""
from __future__ import annotations

import math
import re
from typing import Any

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def unstorable_message(text: str) -> str | None:
    """Why ``text`` cannot be stored (a validation message), or None if it can."""
    if UNSTORABLE.search(text) is None:
        return None
    return "Null characters are not allowed." if "\x00" in text else "Surrogate characters are not allowed."


def storable(value: Any) -> Any:
    """``value`` (JSON-like) with each unstorable character, in strings and property names, replaced by U+FFFD, and
    NaN and the infinities by their names: for keeping a foreign message that must be recorded whatever it holds (a
    dead letter, an integration error)."""
    if isinstance(value, str):
        return UNSTORABLE.sub(REPLACEMENT, value)
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):  # jsonb has no NaN or Infinity: kept as their names
        return str(value)
    return value
