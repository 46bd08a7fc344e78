"""TTS settings plus WORKFLOW_API_URL, which messaging_service reads (until tts/settings.py reads it itself)."""
import os

from tts.settings import *  # noqa: F401,F403

WORKFLOW_API_URL = os.environ.get("WORKFLOW_API_URL", "")
