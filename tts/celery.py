"""The one Celery app of TTS; every worker (per service or all-in-one) runs this."""
import gc
import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_process_init, worker_ready
from django import db

from tts_common.messaging import celery_app

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tts.settings")

app = Celery("tts")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
celery_app.register(app)
# Batch consumers' queues are read on a channel of their own, so that a batch is acked at once.
app.steps["consumer"].add("tts_common.messaging.batch_queues:BatchQueues")


@task_prerun.connect
@task_postrun.connect
def close_old_connections(**_: object) -> None:
    """Database connections outlive a task (CELERY_DB_REUSE_MAX) but not CONN_MAX_AGE or a failed health check:
    what Django does around each request, done around each task."""
    db.close_old_connections()


@worker_ready.connect
@worker_process_init.connect
def freeze_startup_objects(**_: object) -> None:
    """Keep what start-up loaded (Django, the apps, their modules: most of a worker's objects) out of the garbage
    collector's full collections. Left in, each full collection walked them all, pausing a process 40-190 ms every
    few seconds at full intake: the worst latencies of bench/ingest.py."""
    gc.freeze()

