"""Liveness and readiness over real HTTP (a broker outage: tests/chaos/test_broker_outage_ready.py)."""
import requests


def test_live_needs_no_auth(asgi_server):
    server = asgi_server()
    response = requests.get(f"{server.url}/health/live", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_checks_database_broker_and_channel_layer(asgi_server):
    server = asgi_server()
    response = requests.get(f"{server.url}/health/ready", timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["failed"] == []
    assert set(body["checks"]) == {"database", "broker", "channel_layer"}
    assert all(check["status"] == "ok" for check in body["checks"].values())
    backends = {name: check["backend"] for name, check in body["checks"].items()}
    assert backends == {"database": "PostgreSQL", "broker": "RabbitMQ", "channel_layer": "Redis"}


def test_ready_stays_ok_while_websockets_hold_the_channel_layer(asgi_server):
    """Every signed-in page holds a socket; readiness must not mistake the busy receive loop for an outage."""
    import asyncio

    import websockets
    from rest_framework_simplejwt.tokens import AccessToken

    from tts_common.base.accounts import account_state_set

    server = asgi_server()
    account_state_set(user_id=7, is_active=True)  # as auth_service records for its users
    token = AccessToken()
    token["user_id"], token["username"] = 7, "agent7"
    ws_url = server.url.replace("http://", "ws://") + f"/ws/notifications/?token={token}"

    async def ready_with_open_socket() -> int:
        async with websockets.connect(ws_url):
            await asyncio.sleep(0.5)
            return (await asyncio.to_thread(requests.get, f"{server.url}/health/ready", timeout=15)).status_code

    assert asyncio.run(ready_with_open_socket()) == 200
