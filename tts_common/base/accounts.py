"""Account state for token checks: may a token's user still use it? (tts_common.models.AccountState)

Every service checks it on every authenticated request and WebSocket, through a per-process cache of at most
``ACCOUNT_STATE_MAX_AGE_SECONDS`` (30 s by default): a deactivation or password change reaches every process within
that time, for one primary-key read per user and process per period. A write drops this process's cached entry.
"""
from __future__ import annotations

import time
from typing import NamedTuple

from channels.db import database_sync_to_async
from django.conf import settings

from tts_common.models import AccountState


class _State(NamedTuple):
    is_active: bool
    tokens_not_before: int
    read_at: float  # time.monotonic()

    def accepts(self, issued_at: int) -> bool:
        return self.is_active and issued_at >= self.tokens_not_before


# user id -> its state. Bounded by the number of users who present validly signed tokens.
_cached: dict[int, _State] = {}


def account_state_set(*, user_id: int, is_active: bool, tokens_not_before: int | None = None) -> None:
    """Record ``user_id``'s active flag and, if given, the Unix second before which its tokens are refused (call it
    inside the transaction that changes the user)."""
    fields: dict[str, object] = {"is_active": is_active}
    if tokens_not_before is not None:
        fields["tokens_not_before"] = tokens_not_before
    AccountState.objects.update_or_create(user_id=user_id, defaults=fields)
    _cached.pop(user_id, None)


def _fresh(user_id: int) -> _State | None:
    state = _cached.get(user_id)
    if state is not None and time.monotonic() - state.read_at < settings.ACCOUNT_STATE_MAX_AGE_SECONDS:
        return state
    return None


def _read(user_id: int) -> _State:
    row = AccountState.objects.filter(user_id=user_id).values_list("is_active", "tokens_not_before").first()
    state = _State(*(row or (False, 0)), read_at=time.monotonic())  # no row: no account to use tokens of
    _cached[user_id] = state
    return state


def account_accepts_token(user_id: int, issued_at: int) -> bool:
    """Whether ``user_id``'s account is active and its tokens issued at ``issued_at`` (Unix seconds) still count, as
    of at most ACCOUNT_STATE_MAX_AGE_SECONDS ago."""
    return (_fresh(user_id) or _read(user_id)).accepts(issued_at)


async def aaccount_accepts_token(user_id: int, issued_at: int) -> bool:
    """:func:`account_accepts_token` for the event loop: a cached answer without leaving it, else one read in a
    thread (not the thread-sensitive executor: every socket's periodic look would queue behind web requests there)."""
    state = _fresh(user_id) or await database_sync_to_async(_read, thread_sensitive=False)(user_id)
    return state.accepts(issued_at)


def forget_cached_account_states() -> None:
    """Drop this process's cache (tests: their rolled-back transactions would leave it describing rows that are
    gone)."""
    _cached.clear()
