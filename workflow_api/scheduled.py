"""Jobs celery beat sends (``CELERY_BEAT_SCHEDULE``), on their own queue. Each only calls a service; a failed or
missed tick needs no retry, as the next one does the same work (the jobs are idempotent and safe to overlap).

Registered from :class:`workflow_api.apps.WorkflowApiConfig` (Celery's autodiscovery imports only ``tasks``)."""
from __future__ import annotations

from celery import shared_task

from tts_common import contracts
from workflow_api.services import dead_letters, external, reports, sla


@shared_task(name=contracts.SLA_SCAN.task)
def sla_scan() -> None:
    sla.sla_scan()


@shared_task(name=contracts.DEAD_LETTER_DRAIN.task)
def dead_letters_drain() -> None:
    dead_letters.dead_letters_drain()
    dead_letters.dead_letters_notify_admins()


@shared_task(name=contracts.EXTERNAL_RETRY_SCAN.task)
def external_retry_scan() -> None:
    external.external_retry_scan()


@shared_task(name=contracts.REPORTS_FOLD.task)
def reports_fold() -> None:
    reports.fold_report_deltas()
