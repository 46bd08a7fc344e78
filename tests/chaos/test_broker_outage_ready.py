"""Readiness through a real broker outage, on the chaos suite's private RabbitMQ node: stopping the shared one failed
whatever the other test worker was running at that moment."""
from __future__ import annotations

import pytest
import requests

from tests.conftest import wait_for

pytestmark = pytest.mark.slow


def test_broker_outage_makes_ready_503_naming_the_broker(asgi_server, private_broker):
    server = asgi_server(env={"CELERY_BROKER_URL": private_broker.url})
    assert requests.get(f"{server.url}/health/ready", timeout=15).status_code == 200
    private_broker.stop()
    try:
        response = requests.get(f"{server.url}/health/ready", timeout=15)
        assert response.status_code == 503
        body = response.json()
        assert body["failed"] == ["broker"]
        assert body["checks"]["broker"]["status"] == "error"
        assert body["checks"]["database"]["status"] == "ok"
    finally:
        private_broker.start()
    wait_for(lambda: requests.get(f"{server.url}/health/ready", timeout=15).status_code == 200, timeout=60)
