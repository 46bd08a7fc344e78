"""notification_service's live figures for ``/metrics`` (registered with :mod:`tts_common.base.metrics` by the
app's AppConfig): email deliveries and daily digests by status."""
from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import Metric

from notification_service.models import Digest, EmailDelivery
from tts_common.base import metrics


def read_counts() -> dict[str, dict[str, int]]:
    return {
        "email_deliveries": metrics.count_by_status(EmailDelivery),
        "email_digests": metrics.count_by_status(Digest),
    }


def count_metrics(counts: dict[str, dict[str, int]]) -> Iterator[Metric]:
    yield metrics.by_status("tts_email_deliveries", "Email deliveries by status.", counts["email_deliveries"],
                            EmailDelivery.Status.values)
    yield metrics.by_status("tts_email_digests", "Daily digest emails by status.", counts["email_digests"],
                            Digest.Status.values)


def register() -> None:
    metrics.register_live_source("notification_service", read_counts, count_metrics)
