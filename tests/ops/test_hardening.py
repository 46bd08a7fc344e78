"""HTTP hardening over real HTTP: throttling, security headers, CORS, request size limits."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from django.core.cache import cache
from django.test import RequestFactory
from rest_framework.throttling import AnonRateThrottle

from tests.conftest import REPO_ROOT

ALLOWED_ORIGIN = "https://helpdesk.example.com"
LIMIT = 1024 * 1024


@pytest.fixture
def default_rates(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The production rates (scripts/test raises them for the rest of the suite), on an empty throttle history: the
    history of 127.0.0.1 is shared through Redis with every test that ran in the last minute."""
    monkeypatch.delenv("THROTTLE_ANON_RATE", raising=False)
    monkeypatch.delenv("THROTTLE_USER_RATE", raising=False)
    cache.delete("throttle_anon_127.0.0.1")
    yield
    cache.delete("throttle_anon_127.0.0.1")


def test_default_rates_are_those_of_the_issue(default_rates: None) -> None:
    code = "from django.conf import settings; print(settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES'])"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tts.settings"}
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert out.strip().splitlines()[-1] == "{'anon': '100/min', 'user': '1000/min'}"


def test_anonymous_clients_get_100_requests_a_minute(asgi_server: Callable[[], Any], default_rates: None) -> None:
    server = asgi_server()
    with requests.Session() as session:
        # Invalid logins (400) count like any other request.
        assert {session.post(f"{server.url}/token/", json={}, timeout=10).status_code for _ in range(100)} == {400}
        response = session.post(f"{server.url}/token/", json={}, timeout=10)
    assert response.status_code == 429
    body = response.json()
    assert body["status"] == 429 and body["code"] == "throttled"
    assert body["detail"].startswith("Request was throttled.")
    assert 0 < int(response.headers["Retry-After"]) <= 60


def test_a_client_cannot_pick_its_address_with_x_forwarded_for(rf: RequestFactory) -> None:
    """Unless NUM_PROXIES says proxies are trusted, the address is REMOTE_ADDR (uvicorn runs --no-proxy-headers)."""
    request = rf.get("/", REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="10.0.0.1")
    assert AnonRateThrottle().get_ident(request) == "203.0.113.7"


def test_users_are_throttled_per_user(
    asgi_server: Callable[[], Any], make_token: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THROTTLE_USER_RATE", "3/min")
    server = asgi_server()
    user_id = int.from_bytes(os.urandom(4), "big")  # throttle history is keyed by user id and kept in Redis
    first, second = (
        {"Authorization": f"Bearer {make_token(user_id=user_id + n)}"} for n in range(2)
    )  # fmt: skip
    assert [requests.get(f"{server.url}/tasks/", headers=first, timeout=10).status_code for _ in range(3)] == [200] * 3
    throttled = requests.get(f"{server.url}/tasks/", headers=first, timeout=10)
    assert throttled.status_code == 429 and throttled.json()["code"] == "throttled"
    assert requests.get(f"{server.url}/tasks/", headers=second, timeout=10).status_code == 200


def test_security_headers(asgi_server: Callable[[], Any], make_token: Callable[..., str]) -> None:
    server = asgi_server()
    api = requests.get(f"{server.url}/tasks/", headers={"Authorization": f"Bearer {make_token()}"}, timeout=10)
    assert api.status_code == 200
    assert api.headers["X-Content-Type-Options"] == "nosniff"
    assert api.headers["X-Frame-Options"] == "DENY"
    assert api.headers["Referrer-Policy"] == "same-origin"
    assert api.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert api.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert api.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in api.headers  # HTTPS unset: no HSTS
    # A page keeps its own policy (scripts from its origin may run there).
    page = requests.get(f"{server.url}/", timeout=10)
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_hsts_when_served_over_https_behind_a_tls_proxy(
    asgi_server: Callable[[], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {"HTTPS": "1", "TRUST_X_FORWARDED_PROTO": "1"}.items():
        monkeypatch.setenv(name, value)
    server = asgi_server()
    response = requests.get(f"{server.url}/health/live", headers={"X-Forwarded-Proto": "https"}, timeout=10)
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    plain = requests.get(f"{server.url}/health/live", timeout=10)
    assert "Strict-Transport-Security" not in plain.headers  # never over plain HTTP (RFC 6797)


def test_oversized_bodies_are_refused_with_413(asgi_server: Callable[[], Any], make_token: Callable[..., str]) -> None:
    server = asgi_server()
    headers = {"Authorization": f"Bearer {make_token(is_admin=True)}", "Content-Type": "application/json"}
    body = b'{"title": "' + b"x" * LIMIT + b'"}'
    response = requests.post(f"{server.url}/api/tickets/", data=body, headers=headers, timeout=30)
    assert response.status_code == 413
    assert response.json() == {
        "status": 413, "code": "request_too_large", "detail": f"The request body exceeds {LIMIT} bytes.",
    }  # fmt: skip
    # Just under the limit, the same request reaches the view (which rejects the ticket on its merits).
    fitting = b'{"title": "' + b"x" * (LIMIT - 100) + b'"}'
    assert requests.post(f"{server.url}/api/tickets/", data=fitting, headers=headers, timeout=30).status_code == 400
    # A body of undeclared length is refused: nothing downstream would bound it.
    chunked = requests.post(f"{server.url}/api/tickets/", data=iter([b"{}"]), headers=headers, timeout=30)
    assert chunked.status_code == 411 and chunked.json()["code"] == "length_required"


def test_requests_django_refuses_before_any_view_get_the_json_error(
    asgi_server: Callable[[], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """More form fields than DATA_UPLOAD_MAX_NUMBER_FIELDS: Django's own 400 (HTML by default, found so by the API
    fuzz run), with the default settings (DEBUG off: no debug pages)."""
    monkeypatch.delenv("DEBUG", raising=False)
    server = asgi_server()
    fields = [("username", (None, "admin"))] * 1001
    response = requests.post(f"{server.url}/token/", files=fields, timeout=30)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"status": 400, "code": "bad_request", "detail": "Bad request."}


def test_cors_preflight_only_for_configured_origins(
    asgi_server: Callable[[], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", ALLOWED_ORIGIN)
    server = asgi_server()

    def preflight(origin: str) -> requests.Response:
        return requests.options(
            f"{server.url}/tasks/",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type, x-request-id",
            },
            timeout=10,
        )

    allowed = preflight(ALLOWED_ORIGIN)
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "authorization" in allowed.headers["Access-Control-Allow-Headers"]
    assert "x-request-id" in allowed.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Origin" not in preflight("https://evil.example.net").headers

    monkeypatch.delenv("CORS_ALLOWED_ORIGINS")  # the default: no origin at all
    assert "Access-Control-Allow-Origin" not in requests.options(
        f"{asgi_server().url}/tasks/",
        headers={"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "GET"},
        timeout=10,
    ).headers
