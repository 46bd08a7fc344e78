"""HDTS ticket signatures (DESIGN §3): hex HMAC-SHA256(secret, f"{signed_at}.{canonical JSON of the ticket}").

``signed_at`` is the Unix time in seconds at signing (an int, or its decimal string as sent in the
``X-HDTS-Signed-At`` header; an ISO 8601 date-time with a time zone is accepted too). It is signed exactly as
given, so a verifier must pass on the very value the signer used: the HTTP intake forwards the header's string
unchanged to the queue.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
from datetime import datetime
from typing import Any

# DESIGN §3: the HTTP intake rejects signatures older than this (replay).
DEFAULT_MAX_AGE_SECONDS = 300


class SignatureError(Exception):
    """The ticket's signature cannot be trusted; the message says why."""


class MissingSignature(SignatureError):
    pass


class BadSignature(SignatureError):
    pass


class StaleSignature(SignatureError):
    pass


class MalformedSignedAt(SignatureError):
    """``signed_at`` is not a time: bad input rather than a bad signature."""


def canonical_json(ticket_data: dict[str, Any]) -> str:
    """The exact text that is signed (DESIGN §3)."""
    return json.dumps(ticket_data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sign(secret: str, signed_at: str | int | float, ticket_data: dict[str, Any]) -> str:
    if not secret:
        raise ValueError("a signing secret is required")
    message = f"{signed_at}.{canonical_json(ticket_data)}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_at_timestamp(signed_at: str | int | float) -> float:
    """Unix time of ``signed_at``; :class:`MalformedSignedAt` unless it is finite Unix seconds or an ISO 8601
    date-time with a time zone (``nan`` would pass any freshness check: every comparison with it is false)."""
    text = str(signed_at).strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise MalformedSignedAt(f"signed_at {text[:40]!r} is not a finite time")
        return seconds
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedSignedAt(f"signed_at {text[:40]!r} is neither Unix seconds nor an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise MalformedSignedAt("signed_at must carry a time zone")
    return moment.timestamp()


def verify(
    secret: str,
    signature: str | None,
    signed_at: str | int | float | None,
    ticket_data: dict[str, Any],
    max_age_seconds: float | None = None,
    *,
    now: float | None = None,
) -> None:
    """Return if ``signature`` is this ticket's, signed with ``secret`` at ``signed_at``; raise
    :class:`SignatureError` otherwise: :class:`MalformedSignedAt` for a ``signed_at`` that is not a time, whatever
    the signature. With ``max_age_seconds``, a ``signed_at`` further than that from ``now`` (either way: a clock far
    ahead is as suspect as a replay) raises :class:`StaleSignature`.
    """
    if not secret:
        raise ValueError("a signing secret is required")
    if not signature:
        raise MissingSignature("the ticket is not signed (signature missing)")
    if signed_at is None or signed_at == "":
        raise MissingSignature("the ticket's signing time (signed_at) is missing")
    signed_at_time = signed_at_timestamp(signed_at)
    expected = sign(secret, signed_at, ticket_data)
    # Compare first, in constant time, so timing says nothing about the signature; then check freshness.
    if not hmac.compare_digest(expected.encode(), str(signature).strip().lower().encode()):
        raise BadSignature("the ticket's signature does not match")
    if max_age_seconds is not None:
        age = (time.time() if now is None else now) - signed_at_time
        if abs(age) > max_age_seconds:
            when = "old" if age > 0 else "in the future"
            raise StaleSignature(f"signed_at is {abs(age):.0f}s {when}; at most {max_age_seconds:.0f}s is accepted")
