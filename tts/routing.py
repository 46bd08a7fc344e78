"""WebSocket routes of all services (each service adds its own list here)."""
import messaging_service.routing

websocket_urlpatterns: list = [
    *messaging_service.routing.websocket_urlpatterns,
]
