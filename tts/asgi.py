"""ASGI entry point: every HTTP route and every WebSocket route of every service."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tts.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up)

from tts.routing import websocket_urlpatterns  # noqa: E402
from tts_common.database import limit_statement_time  # noqa: E402
from tts_common.web_server import guarded_websockets  # noqa: E402

limit_statement_time()
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": guarded_websockets(URLRouter(websocket_urlpatterns)),
    }
)
