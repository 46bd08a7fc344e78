"""Ticket signatures (DESIGN §3), checked against an independent HMAC computation."""
from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from tts_common.base import signing

TICKET = {"ticket_id": "T-1", "title": "Café ☕ broken", "priority": "high", "category": "IT Support",
          "sub_category": "Network", "attachments": [{"url": "https://x.example/a", "filename": "a"}]}  # fmt: skip


def test_canonical_json_is_sorted_compact_and_unescaped() -> None:
    assert signing.canonical_json({"b": 1, "a": {"d": "é", "c": [1, 2]}}) == '{"a":{"c":[1,2],"d":"é"},"b":1}'


def test_sign_matches_an_independent_hmac() -> None:
    canonical = (
        '{"attachments":[{"filename":"a","url":"https://x.example/a"}],"category":"IT Support","priority":"high",'
        '"sub_category":"Network","ticket_id":"T-1","title":"Café ☕ broken"}'
    )
    expected = hmac.new(b"k", f"1700000000.{canonical}".encode(), hashlib.sha256).hexdigest()
    assert signing.sign("k", 1700000000, TICKET) == expected
    assert signing.sign("k", "1700000000", TICKET) == expected


def test_verify_accepts_a_good_signature_whatever_the_key_order() -> None:
    now = int(time.time())
    signature = signing.sign("k", now, TICKET)
    reordered = dict(reversed(list(TICKET.items())))
    signing.verify("k", signature, str(now), reordered, max_age_seconds=300)
    signing.verify("k", signature.upper(), now, TICKET)


@pytest.mark.parametrize(
    "secret, change",
    [("other-secret", {}), ("k", {"priority": "low"}), ("k", {"extra": None})],
    ids=["wrong-secret", "tampered-field", "added-field"],
)
def test_verify_rejects_a_wrong_signature(secret: str, change: dict) -> None:
    signature = signing.sign(secret, 1, TICKET)
    with pytest.raises(signing.BadSignature, match="does not match"):
        signing.verify("k", signature, 1, {**TICKET, **change})


def test_verify_rejects_a_signature_for_another_time() -> None:
    with pytest.raises(signing.BadSignature):
        signing.verify("k", signing.sign("k", 1, TICKET), 2, TICKET)


@pytest.mark.parametrize("signature, signed_at", [(None, "1"), ("", "1"), ("ab", None), ("ab", "")])
def test_verify_rejects_missing_parts(signature: str | None, signed_at: str | None) -> None:
    with pytest.raises(signing.MissingSignature):
        signing.verify("k", signature, signed_at, TICKET)


def test_verify_rejects_stale_and_future_timestamps() -> None:
    now = 1_800_000_000
    for signed_at, word in ((now - 301, "old"), (now + 301, "in the future")):
        with pytest.raises(signing.StaleSignature, match=word):
            signing.verify("k", signing.sign("k", signed_at, TICKET), signed_at, TICKET, 300, now=now)
    signing.verify("k", signing.sign("k", now - 299, TICKET), now - 299, TICKET, 300, now=now)
    signing.verify("k", signing.sign("k", 1, TICKET), 1, TICKET)  # no max age: the queue relies on idempotency


def test_signed_at_may_be_iso_8601_with_a_zone() -> None:
    signed_at = "2027-01-15T08:00:00+00:00"
    now = signing.signed_at_timestamp(signed_at) + 10
    signing.verify("k", signing.sign("k", signed_at, TICKET), signed_at, TICKET, 300, now=now)
    for bad in ("2027-01-15T08:00:00", "soon"):
        with pytest.raises(signing.MalformedSignedAt):
            signing.verify("k", signing.sign("k", bad, TICKET), bad, TICKET, 300)


@pytest.mark.parametrize("signed_at", ["nan", " NaN ", "inf", "-inf", "Infinity", "1e999", float("nan"), float("-inf"), 10**400, True])
@pytest.mark.parametrize("max_age_seconds", [300, None], ids=["http", "queue"])
def test_a_signed_at_that_is_no_finite_time_is_refused_even_when_signed(signed_at, max_age_seconds) -> None:
    """Every comparison with NaN is false: ``nan`` passed the freshness check, and a request signed with it could
    be replayed for ever."""
    with pytest.raises(signing.MalformedSignedAt):
        signing.verify("k", signing.sign("k", signed_at, TICKET), signed_at, TICKET, max_age_seconds)


def test_a_secret_is_required() -> None:
    with pytest.raises(ValueError):
        signing.sign("", 1, TICKET)
    with pytest.raises(ValueError):
        signing.verify("", "ab", 1, TICKET)
