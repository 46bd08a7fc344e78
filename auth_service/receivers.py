"""Keeps tts_common's account state (what every service's token check reads) in step with the users table, and ends
a user's sessions when it is deactivated or its password is replaced.

A receiver rather than calls in :mod:`auth_service.services`: users are also saved by Django's own code paths that
bypass the services (``createsuperuser``, the admin's password form), and a user without an account state could not
use any token. It runs inside the saving transaction, so it all commits or rolls back with the user.
"""
from __future__ import annotations

import time
from typing import Any

from tts_common.base.accounts import account_state_set

from . import tokens
from .models import User


def record_account_state(sender: type[User], instance: User, update_fields: Any = None, **kwargs: Any) -> None:
    password_replaced = instance.__dict__.pop("_password_replaced", False)  # see User.set_password
    if update_fields is not None and "is_active" not in update_fields and not password_replaced:
        return
    ends_sessions = password_replaced or not instance.is_active
    # Tokens issued before this second stop counting (access tokens in every service within the state's max age),
    # also once a deactivated user is reactivated.
    account_state_set(
        user_id=instance.pk,
        is_active=instance.is_active,
        tokens_not_before=int(time.time()) if ends_sessions else None,
    )
    if ends_sessions:
        tokens.revoke_user_refresh_tokens(user=instance)


def record_account_deleted(sender: type[User], instance: User, **kwargs: Any) -> None:
    account_state_set(user_id=instance.pk, is_active=False)
