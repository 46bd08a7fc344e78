"""ASGI entry point: every HTTP route and every WebSocket route of every service."""
import gc
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tts.settings")
django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application does

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up)
from django.conf import settings  # noqa: E402
from django.urls import get_resolver  # noqa: E402

from tts.routing import websocket_urlpatterns  # noqa: E402
from tts_common.base.database import configure_web_connections  # noqa: E402
from tts_common.http.web_server import ConcurrencyLimit, RequestHandler, guarded_websockets  # noqa: E402

django_asgi_app = RequestHandler()
configure_web_connections()
application = ProtocolTypeRouter(
    {
        "http": ConcurrencyLimit(django_asgi_app, settings.DB_POOL_MAX_SIZE, settings.WEB_QUEUE_TIMEOUT_SECONDS),
        "websocket": guarded_websockets(URLRouter(websocket_urlpatterns)),
    }
)

# Keep what start-up loaded out of the garbage collector's full collections, as the workers do
# (tts.celery.freeze_startup_objects): each walked all of Django, the apps and their modules, a pause of tens of
# milliseconds in whichever request ran into it (the one-client p99s of bench/scale.py). The URL conf first, so the
# views and serializers every request reaches are among what is kept, not loaded by the first request.
get_resolver().url_patterns  # noqa: B018  (imports every view module)
gc.freeze()
