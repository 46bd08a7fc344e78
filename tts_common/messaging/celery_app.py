"""The project's Celery app, as tts_common's messaging reaches it: the project registers it when it makes it
(tts/celery.py, which Django's start-up imports through tts/__init__.py), so that tts_common imports no project
module.

Not ``celery.current_app``: that is per thread, and a thread that did not make the app (the outbox relay's, the
ASGI server's sync threads) would get Celery's fallback app, configured from nothing, publishing to a default broker.
"""
from __future__ import annotations

from celery import Celery

_registered: Celery | None = None


def register(app: Celery) -> None:
    """Make ``app`` the one tts_common's messaging publishes and reads queues with."""
    global _registered
    _registered = app


def celery_app() -> Celery:
    if _registered is None:
        raise RuntimeError("no Celery app registered: the project's Celery module registers it (tts/celery.py)")
    return _registered
