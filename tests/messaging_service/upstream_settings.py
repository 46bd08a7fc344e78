"""TTS settings plus the two service URLs messaging_service reads (until tts/settings.py reads them itself)."""
import os

from tts.settings import *  # noqa: F401,F403

WORKFLOW_API_URL = os.environ.get("WORKFLOW_API_URL", "")
AUTH_API_URL = os.environ.get("AUTH_API_URL", "")
