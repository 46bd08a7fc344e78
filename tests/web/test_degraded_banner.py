"""Auth service unavailable (issue 15, degraded modes): the pages show a warning banner while the auth service's user
lookups fail, and drop it when it answers again. The auth service's lookups are played by a stub that can go down."""
from __future__ import annotations

import pytest
import requests
from django.core.cache import cache
from playwright.sync_api import expect

from tests.notification_service.conftest import auth_stub  # noqa: F401 (fixture)
from tests.web.conftest import Api, Stack, seed_demo


@pytest.fixture
def stack(auth_stub, monkeypatch, asgi_server) -> Stack:  # noqa: F811
    """The demo and one web process whose user lookups go to ``auth_stub``, rechecked every second (no worker: the
    banner needs none)."""
    monkeypatch.setenv("AUTH_SERVICE_URL", auth_stub.url)
    monkeypatch.setenv("DEGRADED_STATUS_INTERVAL_SECONDS", "1")
    cache.clear()  # an outage recorded by an earlier test
    seed_demo()
    server = asgi_server()
    return Stack(server=server, worker=None, api=Api(server.url))  # type: ignore[arg-type]


def test_the_banner_shows_while_auth_lookups_fail_and_goes_when_they_answer(browser, auth_stub):  # noqa: F811
    page = browser.new_page()
    browser.login(page, "agent1")
    banner = page.locator("#degraded-banner")
    expect(page.locator("#user-name")).to_have_text("agent1")
    expect(banner).to_be_hidden()

    auth_stub.down = True
    expect(banner).to_be_visible(timeout=10_000)
    expect(banner).to_contain_text("The auth service is not answering")
    expect(banner).to_contain_text("Users are served from cached data until")
    browser.screenshot(page, "degraded-auth-banner", full_page=False)
    page.goto("/app/notifications/")  # on every page
    expect(banner).to_be_visible()

    auth_stub.down = False
    expect(banner).to_be_hidden(timeout=10_000)


@pytest.mark.django_db(transaction=True)
def test_a_server_whose_auth_service_answers_reports_no_degraded_mode(asgi_server, make_token):
    cache.clear()
    server = asgi_server(env={"DEGRADED_STATUS_INTERVAL_SECONDS": "0"})  # looks users up in itself: probes it
    response = requests.get(
        f"{server.url}/api/status/", headers={"Authorization": f"Bearer {make_token(5)}"}, timeout=10
    )
    assert response.status_code == 200
    assert response.json() == {
        "auth_service": {"status": "ok", "unavailable_since": None, "cached_users_until": None},
        "recheck_seconds": 0.0,
    }
    assert requests.get(f"{server.url}/api/status/", timeout=10).status_code == 401
