"""The one Celery app of TTS; every worker (per service or all-in-one) runs this."""
import os

from celery import Celery
from celery.signals import task_postrun, task_prerun
from django import db

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tts.settings")

app = Celery("tts")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Batch consumers' queues are read on a channel of their own, so that a batch is acked at once.
app.steps["consumer"].add("tts_common.batch_queues:BatchQueues")


@task_prerun.connect
@task_postrun.connect
def close_old_connections(**_: object) -> None:
    """Database connections outlive a task (CELERY_DB_REUSE_MAX) but not CONN_MAX_AGE or a failed health check:
    what Django does around each request, done around each task."""
    db.close_old_connections()
