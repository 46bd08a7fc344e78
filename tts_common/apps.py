import logging

from django.apps import AppConfig
from django.conf import settings

logger = logging.getLogger(__name__)


class TtsCommonConfig(AppConfig):
    name = "tts_common"
    verbose_name = "TTS shared"

    def ready(self) -> None:
        from tts_common import checks  # noqa: F401  (registers the system checks)
        from tts_common.http import schema  # noqa: F401  (registers the OpenAPI auth scheme)
        from tts_common.messaging import live_metrics

        live_metrics.register()
        from tts_common.http.serializer_fields import use_in_model_serializers

        use_in_model_serializers()

        embedded = [
            part
            for part, is_embedded in (
                ("filesystem broker (messages of a killed worker are lost)", settings.EMBEDDED_BROKER),
                ("in-memory channel layer (single process only)", not settings.REDIS_URL),
            )
            if is_embedded
        ]
        if embedded:
            logger.info("embedded profile: %s; demo use only", ", ".join(embedded), extra={"operation": "startup"})
