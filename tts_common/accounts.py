"""Account state for token checks: is a token's user still active? (tts_common.models.AccountState)

Every service checks it on every authenticated request and WebSocket connect, through a per-process cache of at most
``ACCOUNT_STATE_MAX_AGE_SECONDS`` (30 s by default): a deactivation reaches every process within that time, for one
primary-key read per user and process per period. A write drops this process's cached entry at once.
"""
from __future__ import annotations

import time

from channels.db import database_sync_to_async
from django.conf import settings

from .models import AccountState

# user id -> (is active, time.monotonic() when read). Bounded by the number of users who present valid tokens.
_cached: dict[int, tuple[bool, float]] = {}


def account_state_set(*, user_id: int, is_active: bool) -> None:
    """Record ``user_id``'s active flag (call it inside the transaction that changes the user)."""
    AccountState.objects.update_or_create(user_id=user_id, defaults={"is_active": is_active})
    _cached.pop(user_id, None)


def _fresh(user_id: int) -> bool | None:
    hit = _cached.get(user_id)
    if hit is not None and time.monotonic() - hit[1] < settings.ACCOUNT_STATE_MAX_AGE_SECONDS:
        return hit[0]
    return None


def account_is_active(user_id: int) -> bool:
    """Whether ``user_id``'s account is active (at most ACCOUNT_STATE_MAX_AGE_SECONDS stale); no row: not active."""
    cached = _fresh(user_id)
    if cached is not None:
        return cached
    active = AccountState.objects.filter(user_id=user_id, is_active=True).exists()
    _cached[user_id] = (active, time.monotonic())
    return active


async def aaccount_is_active(user_id: int) -> bool:
    """:func:`account_is_active` for the event loop: a cached answer without leaving it, else one read in a thread."""
    cached = _fresh(user_id)
    if cached is not None:
        return cached
    # Not the thread-sensitive executor: every socket's periodic look would queue behind the web requests there.
    return await database_sync_to_async(account_is_active, thread_sensitive=False)(user_id)


def forget_cached_account_states() -> None:
    """Drop this process's cache (tests: their rolled-back transactions would leave it describing rows that are
    gone)."""
    _cached.clear()
