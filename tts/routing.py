"""WebSocket routes of all services (each service adds its own list here)."""
import messaging_service.routing
import notification_service.routing

websocket_urlpatterns: list = [
    *messaging_service.routing.websocket_urlpatterns,
    *notification_service.routing.websocket_urlpatterns,
]
