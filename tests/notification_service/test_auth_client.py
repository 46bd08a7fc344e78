"""The shared auth-service client: service token, retries, 5-minute cache, stale answers for the first 5 minutes of
an outage, and the outage reported (the web UI's banner)."""
import time

import pytest
from django.core.cache import cache

from tts_common.http import auth_client
from tts_common.http.auth_client import AuthServiceClient, AuthServiceUnavailable, UserInfo, UserNotFound


@pytest.fixture
def client(auth_stub, settings, monkeypatch):
    settings.AUTH_SERVICE_URL = auth_stub.url
    monkeypatch.setattr(auth_client, "RETRY_PAUSE_SECONDS", 0)
    cache.clear()
    return AuthServiceClient(service="notification")


def test_user_is_fetched_with_a_service_token(client, auth_stub):
    auth_stub.add_user(5, "five@example.com")
    assert client.get_user(5) == UserInfo(id=5, username="user5", email="five@example.com", is_active=True)
    [request] = auth_stub.requests
    assert request["path"] == "/api/v1/users/5/"
    assert request["claims"]["user_id"] == 0
    assert request["claims"]["username"] == "svc:notification"
    assert request["claims"]["is_admin"] is True


def test_answers_are_cached(client, auth_stub):
    auth_stub.add_user(5, "five@example.com")
    client.get_user(5)
    auth_stub.add_user(5, "changed@example.com")
    assert client.get_user(5).email == "five@example.com"
    assert len(auth_stub.requests) == 1


def test_stale_answer_is_refreshed_and_served_while_auth_is_down(client, auth_stub, monkeypatch):
    auth_stub.add_user(5, "five@example.com")
    client.get_user(5)
    monkeypatch.setattr(auth_client, "FRESH_SECONDS", 0)  # the cached copy is now stale
    auth_stub.add_user(5, "new@example.com")
    assert client.get_user(5).email == "new@example.com"
    auth_stub.down = True
    assert client.get_user(5).email == "new@example.com"
    assert len(auth_stub.requests) == 2 + 1 + auth_client.RETRIES


def test_auth_down_without_a_cached_copy_raises_after_two_retries(client, auth_stub):
    auth_stub.down = True
    with pytest.raises(AuthServiceUnavailable, match="HTTP 503"):
        client.get_user(5)
    assert len(auth_stub.requests) == 3


def test_unreachable_auth_service_raises(client, settings):
    from tests.conftest import free_port

    settings.AUTH_SERVICE_URL = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(AuthServiceUnavailable, match="ConnectionError"):
        client.get_user(5)


def test_unknown_user_is_not_retried(client, auth_stub):
    with pytest.raises(UserNotFound):
        client.get_user(404)
    assert len(auth_stub.requests) == 1


def test_cached_answers_serve_for_the_first_5_minutes_of_an_outage_only(client, auth_stub, monkeypatch):
    auth_stub.add_user(5, "five@example.com")
    client.get_user(5)
    monkeypatch.setattr(auth_client, "FRESH_SECONDS", 0)
    auth_stub.down = True
    assert client.get_user(5).email == "five@example.com"  # the outage starts: cached data
    since = cache.get(auth_client.OUTAGE_KEY)
    assert client.get_user(5).email == "five@example.com"
    assert cache.get(auth_client.OUTAGE_KEY) == since  # the outage's start is kept
    cache.set(auth_client.OUTAGE_KEY, time.time() - auth_client.STALE_WINDOW_SECONDS - 1)
    with pytest.raises(AuthServiceUnavailable):
        client.get_user(5)  # past the window: no longer served
    auth_stub.down = False
    assert client.get_user(5).email == "five@example.com"  # the next answer ends the outage
    assert cache.get(auth_client.OUTAGE_KEY) is None


def test_status_reports_the_outage_and_probes_when_no_lookup_told_lately(client, auth_stub, settings):
    settings.DEGRADED_STATUS_INTERVAL_SECONDS = 60
    assert auth_client.auth_service_status("web") == auth_client.AuthServiceStatus(available=True)
    assert [r["path"] for r in auth_stub.requests] == ["/api/v1/users/0/"]  # a probe: nobody had asked
    auth_stub.down = True
    assert auth_client.auth_service_status("web").available  # asked lately: no probe
    assert len(auth_stub.requests) == 1

    settings.DEGRADED_STATUS_INTERVAL_SECONDS = 0
    started = time.time()
    status = auth_client.auth_service_status("web")
    assert not status.available and len(auth_stub.requests) == 2  # one quick probe, no retries
    assert started <= status.unavailable_since <= time.time()
    assert status.cached_users_until == status.unavailable_since + auth_client.STALE_WINDOW_SECONDS
    auth_stub.down = False
    assert auth_client.auth_service_status("web").available
