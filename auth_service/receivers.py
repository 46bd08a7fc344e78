"""Keeps tts_common's account state (what every service's token check reads) in step with the users table.

A receiver rather than calls in :mod:`auth_service.services`: users are also saved by Django's own code paths that
bypass the services (``createsuperuser``, the admin's password form), and a user without an account state could not
use any token. It runs inside the saving transaction, so the state commits or rolls back with the user.
"""
from __future__ import annotations

from typing import Any

from tts_common.accounts import account_state_set

from .models import User


def record_account_state(sender: type[User], instance: User, update_fields: Any = None, **kwargs: Any) -> None:
    if update_fields is None or "is_active" in update_fields:
        account_state_set(user_id=instance.pk, is_active=instance.is_active)


def record_account_deleted(sender: type[User], instance: User, **kwargs: Any) -> None:
    account_state_set(user_id=instance.pk, is_active=False)
