"""WebSocket routes of all services (each service adds its own list here)."""
websocket_urlpatterns: list = []
