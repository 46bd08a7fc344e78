"""Settings of the notification service, with their defaults.

The deployment-tunable ones are Django settings (from the environment); the rest are fixed by DESIGN §2.
"""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings


def email_retry_base_seconds() -> float:
    """Email retry n waits base * 2^n s (with jitter); DESIGN §2 fixes 2^n, tests shorten it."""
    return float(settings.NOTIFICATION_EMAIL_RETRY_BASE_SECONDS)


# DESIGN §2: notifications are retried 5 times.
EMAIL_MAX_RETRIES = 5
EMAIL_MAX_ATTEMPTS = 1 + EMAIL_MAX_RETRIES
# Deliveries per email task message: few publishes per ingested batch, one SMTP connection per chunk.
EMAIL_CHUNK_SIZE = 25
EMAIL_TASK_SOFT_TIME_LIMIT = 240
# A claim older than this is taken to belong to a dead worker (the email task's hard time limit is shorter).
EMAIL_CLAIM_LEASE_SECONDS = 300


def email_stalled_after_seconds() -> float:
    """A pending delivery untouched this long has no message on its way (its retry could not be published, e.g.
    through a broker outage): the sweep queues it again. Past the longest retry wait, so a delivery waiting out its
    backoff is left alone."""
    return max(EMAIL_CLAIM_LEASE_SECONDS, 2 * email_retry_base_seconds() * 2.0**EMAIL_MAX_RETRIES)

# Types that also go by email for a user who never set preferences.
DEFAULT_EMAIL_TYPES: tuple[str, ...] = (
    "task_assignment",
    "task_transfer_in",
    "task_escalation",
    "sla_breach",
    "unrouted_ticket",
    "dead_letter",
)

# A user's email preferences until they choose (see models.NotificationPreference).
DEFAULT_UNREAD_DELAY_MINUTES = 15
DEFAULT_DIGEST_HOUR = 8
MAX_UNREAD_DELAY_MINUTES = 7 * 24 * 60
# Scheduled deliveries released, and digests sent, per tick of their jobs.
DUE_BATCH_SIZE = 1000
DIGEST_BATCH_SIZE = 200


def unread_delay(minutes: int) -> timedelta:
    """A user's "email me if still unread after N minutes"; tests shorten the minute (NOTIFICATION_MINUTE_SECONDS)."""
    return timedelta(seconds=minutes * settings.NOTIFICATION_MINUTE_SECONDS)
