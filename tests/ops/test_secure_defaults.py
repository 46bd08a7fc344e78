"""Fail-closed defaults, attacked over real HTTP as an outsider would against a server started with the defaults:
no committed or placeholder secret is accepted, DEBUG is off (no debug pages, no internals in errors), the API's
documentation needs a login, and cookies are Secure only when the site says it is served over HTTPS."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable

import pytest
import requests
from django.conf import settings
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.tokens import AccessToken

from auth_service.models import User
from tests.conftest import REPO_ROOT, ServerProcess

# The development key this repository once committed (and the server accepted): anyone could sign with it.
COMMITTED_KEY = "dev-insecure-secret-do-not-use-in-production"
ADMIN_PASSWORD = "a-long-admin-password-42"


def signed_token(key: str, user_id: int) -> str:
    """An access token with the claims auth_service issues (an admin's), signed with ``key``."""
    token = AccessToken()
    token["user_id"], token["username"], token["roles"], token["is_admin"] = user_id, "root", {}, True
    return TokenBackend("HS256", signing_key=key).encode(token.payload)


@pytest.fixture
def default_server(asgi_server: Callable[..., ServerProcess], monkeypatch: pytest.MonkeyPatch) -> ServerProcess:
    """A server as `./scripts/run` starts one: no DEBUG, HTTPS or proxy setting, only the install's own secrets."""
    for name in ("DEBUG", "HTTPS", "TRUST_X_FORWARDED_PROTO", "SECURE_HSTS_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    return asgi_server()


@pytest.fixture
def admin_user(transactional_db: None) -> User:
    return User.objects.create_superuser(username="root", email="root@example.com", password=ADMIN_PASSWORD)


@pytest.mark.parametrize(
    ("name", "value", "refusal"),
    [
        ("JWT_SIGNING_KEY", COMMITTED_KEY + "-jwt", "a value once committed to the TTS repository"),
        ("SECRET_KEY", COMMITTED_KEY, "a value once committed to the TTS repository"),
        ("JWT_SIGNING_KEY", "change-me-too", "a placeholder"),
        ("SECRET_KEY", "please-change-me-" + "x" * 40, "a placeholder"),
        ("JWT_SIGNING_KEY", "", "JWT_SIGNING_KEY is not set"),
        ("SECRET_KEY", "s" * 31, "SECRET_KEY is 31 characters long"),
        # Optional secrets: unset switches their feature off, a placeholder would switch it on for anyone.
        ("HDTS_SIGNING_SECRET", "change-me-hdts-shared-secret", "HDTS_SIGNING_SECRET is a placeholder"),
        ("SERVICE_API_KEY", "a-long-random-key-for-prometheus", "SERVICE_API_KEY is a placeholder or a value once"),
    ],
)
def test_the_server_refuses_to_start_with_a_committed_placeholder_missing_or_short_key(
    asgi_server: Callable[..., ServerProcess], name: str, value: str, refusal: str
) -> None:
    with pytest.raises(RuntimeError, match="server exited") as exited:
        asgi_server(env={name: value})
    log = str(exited.value)
    assert "ImproperlyConfigured" in log and refusal in log, log


@pytest.mark.parametrize("debug", ["0", "1"])
def test_committed_keys_are_refused_whatever_debug_says(debug: str) -> None:
    """Not only in production: a development server reachable from elsewhere would accept the forged tokens too."""
    env = {**os.environ, "DEBUG": debug, "JWT_SIGNING_KEY": COMMITTED_KEY + "-jwt"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "JWT_SIGNING_KEY is a placeholder or a value once committed" in result.stderr


def test_a_token_forged_with_another_key_than_the_servers_is_refused(
    default_server: ServerProcess, admin_user: User
) -> None:
    users = f"{default_server.url}/api/v1/users/"
    forged_token = signed_token(COMMITTED_KEY + "-jwt", admin_user.pk)
    forged = requests.get(users, headers={"Authorization": f"Bearer {forged_token}"}, timeout=10)
    assert forged.status_code == 401
    assert forged.json()["code"] == "token_not_valid" and "root@example.com" not in forged.text
    # The same claims signed with the install's own key (the server's environment): accepted, so only the key differed.
    genuine = requests.get(
        users, headers={"Authorization": f"Bearer {signed_token(settings.JWT_SIGNING_KEY, admin_user.pk)}"}, timeout=10
    )
    assert genuine.status_code == 200 and "root@example.com" in genuine.text


def test_debug_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEBUG", raising=False)
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env={**os.environ, "DJANGO_SETTINGS_MODULE": "tts.settings"},
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_an_unknown_url_gets_the_json_404_not_a_list_of_routes(default_server: ServerProcess) -> None:
    for path in ("/no-such-page/", "/api/v1/no-such-thing/", "/app/no-such-page/"):
        response = requests.get(f"{default_server.url}{path}", timeout=10)
        assert response.status_code == 404
        assert response.headers["Content-Type"] == "application/json"
        assert response.json() == {"status": 404, "code": "not_found", "detail": "Not found."}
        assert "URLconf" not in response.text and "api/schema" not in response.text


def test_server_errors_show_no_traceback_and_no_settings(
    asgi_server: Callable[..., ServerProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database is missing: the API answers 503 (try again), a page Django serves its 500; both as JSON without
    the broker password, the traceback or the settings that the debug page showed."""
    monkeypatch.delenv("DEBUG", raising=False)
    broker_url = os.environ["CELERY_BROKER_URL"]
    server = asgi_server(env={"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/tts_no_such_database"})
    api = requests.post(f"{server.url}/token/", json={"username": "root", "password": "x" * 12}, timeout=30)
    assert api.status_code == 503 and int(api.headers["Retry-After"]) > 0
    # Django's admin reads the session from the database before any view of ours runs.
    page = requests.get(f"{server.url}/admin/", cookies={"sessionid": "s" * 32}, timeout=30)
    assert page.status_code == 500
    assert page.json() == {"status": 500, "code": "server_error", "detail": "Internal server error."}
    for response in (api, page):
        assert response.headers["Content-Type"] == "application/json"
        for internal in (broker_url, "Traceback", "tts_no_such_database", "SECRET_KEY", settings.JWT_SIGNING_KEY):
            assert internal not in response.text


def test_the_api_documentation_needs_a_token_or_an_admin_session(
    default_server: ServerProcess, admin_user: User
) -> None:
    url = default_server.url
    schema = requests.get(f"{url}/api/schema/", timeout=30)
    assert schema.status_code == 401 and schema.json()["code"] == "not_authenticated"
    assert "paths" not in schema.text
    docs = requests.get(f"{url}/api/docs/", timeout=30)
    assert docs.status_code == 401 and docs.headers["WWW-Authenticate"].startswith("Bearer")
    assert 'href="/admin/login/?next=/api/docs/"' in docs.text and "swagger" not in docs.text.lower()
    forged = {"Authorization": f"Bearer {signed_token(COMMITTED_KEY + '-jwt', admin_user.pk)}"}
    assert requests.get(f"{url}/api/schema/", headers=forged, timeout=30).status_code == 401

    bearer = {"Authorization": f"Bearer {signed_token(settings.JWT_SIGNING_KEY, admin_user.pk)}"}
    token_schema = requests.get(f"{url}/api/schema/", headers={**bearer, "Accept": "application/json"}, timeout=60)
    assert token_schema.status_code == 200 and "/api/v1/users/" in token_schema.json()["paths"]

    with requests.Session() as browser:  # a person: logs into /admin/, then opens the docs
        log_into_admin(browser, url)
        page = browser.get(f"{url}/api/docs/", timeout=30)
        assert page.status_code == 200 and "swagger-ui" in page.text
        assert browser.get(f"{url}/api/schema/", timeout=60).status_code == 200


def set_cookie_headers(response: requests.Response) -> dict[str, str]:
    """Each Set-Cookie header of the response by cookie name."""
    return {value.split("=", 1)[0]: value for value in response.raw.headers.getlist("Set-Cookie")}


def log_into_admin(browser: requests.Session, url: str) -> dict[str, str]:
    """Django admin's login as a browser does it (the CSRF cookie and the form's token); the login's cookies."""
    form = browser.get(f"{url}/admin/login/?next=/admin/", timeout=30)
    assert form.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token, form.text
    login = browser.post(
        f"{url}/admin/login/?next=/admin/",
        data={"username": "root", "password": ADMIN_PASSWORD, "csrfmiddlewaretoken": token.group(1), "next": "/admin/"},
        allow_redirects=False, timeout=30,
    )  # fmt: skip
    assert login.status_code == 302 and login.headers["Location"] == "/admin/", login.text[:2000]
    return {**set_cookie_headers(form), **set_cookie_headers(login)}


def test_django_admin_works_over_plain_http_with_debug_off(default_server: ServerProcess, admin_user: User) -> None:
    url = default_server.url
    with requests.Session() as browser:
        form = browser.get(f"{url}/admin/login/", timeout=30)
        # Its stylesheet is served (collected static files, whitenoise), though DEBUG is off.
        stylesheet = re.search(r'<link rel="stylesheet" href="(/static/admin/css/[^"]+)"', form.text)
        assert stylesheet, form.text
        css = browser.get(f"{url}{stylesheet.group(1)}", timeout=30)
        assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")

        cookies = log_into_admin(browser, url)
        # Plain http: a Secure cookie would never come back, and the login would fail.
        assert {"csrftoken", "sessionid"} <= set(cookies)
        assert not any("secure" in header.lower().split("; ") for header in cookies.values()), cookies
        home = browser.get(f"{url}/admin/", timeout=30)
        assert home.status_code == 200 and "Site administration" in home.text
    assert "Strict-Transport-Security" not in home.headers


def test_https_makes_the_cookies_secure(
    asgi_server: Callable[..., ServerProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEBUG", raising=False)
    server = asgi_server(env={"HTTPS": "1", "TRUST_X_FORWARDED_PROTO": "1"})
    behind_tls = {"X-Forwarded-Proto": "https"}
    form = requests.get(f"{server.url}/admin/login/", headers=behind_tls, timeout=30)
    assert form.status_code == 200
    assert "secure" in set_cookie_headers(form)["csrftoken"].lower().split("; ")
    # HSTS too (tests/ops/test_hardening.py).
