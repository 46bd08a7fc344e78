"""The one Celery app of TTS; every worker (per service or all-in-one) runs this."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tts.settings")

app = Celery("tts")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
