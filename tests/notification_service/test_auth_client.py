"""The shared auth-service client: service token, retries, 5-minute cache, stale answers while auth is down."""
import pytest
from django.core.cache import cache

from tts_common import auth_client
from tts_common.auth_client import AuthServiceClient, AuthServiceUnavailable, UserInfo, UserNotFound


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
