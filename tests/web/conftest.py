"""Browser tests of the web UI: Debian's Chromium driven by Playwright against the running system (a real uvicorn
process and a real Celery worker on the test database, RabbitMQ and Redis).

Chromium comes from the OS (``apt-get install -y chromium``); ``playwright install`` is never needed.
"""
from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from django.core.cache import cache
from playwright.sync_api import expect

from tests.conftest import OUTPUT_DIR, ServerProcess, WorkerProcess, outside_celery_app, wait_for
from tests.stubs import AmsStub, BmsStub, json_http_server

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = OUTPUT_DIR / "screenshots"
ADMIN = ("admin", "admin-demo-pass")
DEMO_PASSWORD = "demo-pass-123"
DESKTOP = {"width": 1360, "height": 900}


def seed_demo() -> None:
    """DESIGN §6 demo data through the services' public functions (the same wiring as ``manage.py seed_demo``)."""
    from auth_service.services import seed_demo_accounts
    from workflow_api.services.demo import seed_demo_workflows
    from workflow_api.services.replica import apply_role, apply_user_snapshots

    accounts = seed_demo_accounts()
    for role in accounts.roles:
        apply_role(role)
    apply_user_snapshots(accounts.users)
    seed_demo_workflows()


# --- The running system ------------------------------------------------------------------------------------------
class Api:
    """The system's HTTP API as a client sees it (tests check outcomes through it, not through the ORM)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._tokens: dict[str, str] = {}

    def token(self, username: str, password: str = DEMO_PASSWORD) -> str:
        if username not in self._tokens:
            response = requests.post(
                f"{self.base_url}/token/", json={"username": username, "password": password}, timeout=10
            )
            response.raise_for_status()
            self._tokens[username] = response.json()["access_token"]
        return self._tokens[username]

    def request(self, method: str, path: str, *, as_user: tuple[str, str] = ADMIN, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token(*as_user)}"}
        return requests.request(method, f"{self.base_url}{path}", headers=headers, timeout=15, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        response = self.request("GET", path, **kwargs)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: Any, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json=body, **kwargs)

    def task_for_ticket(self, ticket_id: str) -> dict[str, Any] | None:
        results = self.get("/tasks/", params={"external_ticket_id": ticket_id})["results"]
        return results[0] if results else None

    def wait_for_task(self, ticket_id: str, assigned: bool = True, timeout: float = 60) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            task = self.task_for_ticket(ticket_id)
            return task if task and (task["assigned_user"] or not assigned) else None

        return wait_for(ready, timeout=timeout, message=f"a task for ticket {ticket_id}")  # type: ignore[return-value]

    def wait_for_task_state(
        self, task_id: str, reached: Callable[[dict[str, Any]], bool], message: str, timeout: float = 60
    ) -> dict[str, Any]:
        """The task (detail) once ``reached`` holds for it, e.g. once a worker has applied AMS's answer."""

        def ready() -> dict[str, Any] | None:
            task = self.get(f"/tasks/{task_id}/")
            return task if reached(task) else None

        return wait_for(ready, timeout=timeout, message=message)  # type: ignore[return-value]


def publish_ticket(**fields: Any) -> dict[str, Any]:
    """Send a ticket exactly as HDTS does: its own Celery app with default settings, by task name and queue."""
    ticket = {
        "ticket_id": f"HD-{uuid.uuid4().hex[:8].upper()}",
        "title": "VPN drops every 10 minutes on the 3rd floor",
        "category": "IT Support",
        "sub_category": "Network",
        "priority": "high",
        "description": "The VPN client disconnects every ten minutes.\nRebooting the laptop did not help.",
        "department": "Operations",
        "requester_email": "maria.santos@example.com",
        "requester_name": "Maria Santos",
        "attachments": [{"filename": "vpn-log.txt", "url": "https://files.example.com/hd/vpn-log.txt"}],
        **fields,
    }
    outside_celery_app().send_task(
        "tickets.tasks.receive_ticket", kwargs={"ticket_data": ticket}, queue="TICKET_TASKS_PRODUCTION"
    )
    return ticket


@dataclass
class OutsideSystems:
    ams: AmsStub
    bms: BmsStub


@pytest.fixture
def outside_systems(monkeypatch: pytest.MonkeyPatch) -> Iterator[OutsideSystems]:
    """The strict AMS and BMS fakes, the stack's server and worker configured for them (request it before
    ``stack``)."""
    ams, bms = AmsStub(), BmsStub()
    with json_http_server(ams) as ams_url, json_http_server(bms) as bms_url:
        for name, value in {
            "AMS_URL": ams_url, "AMS_API_KEY": ams.api_key,
            "BMS_URL": bms_url, "BMS_TOKEN_URL": bms_url + BmsStub.TOKEN_PATH, "BMS_CLIENT_ID": bms.client_id,
            "BMS_CLIENT_SECRET": bms.client_secret, "BMS_RETRY_DELAY_SECONDS": "0.2",
        }.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        yield OutsideSystems(ams, bms)


@dataclass
class Stack:
    server: ServerProcess
    worker: WorkerProcess
    api: Api

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def stack(asgi_server: Callable[[], ServerProcess], celery_worker: Callable[..., WorkerProcess]) -> Stack:
    """Demo data, one web process and one worker for every queue."""
    cache.clear()  # an auth outage an earlier test recorded in the shared cache would show the degraded banner
    seed_demo()
    server = asgi_server()
    worker = celery_worker(env={"AUTH_SERVICE_URL": server.url})  # the workers look users up where a system would
    return Stack(server=server, worker=worker, api=Api(server.url))


# --- The browser -------------------------------------------------------------------------------------------------
@dataclass
class Browser:
    """Chromium with helpers: isolated contexts (one per user), login, screenshots, JS errors collected."""

    base_url: str
    browser: Any
    page_errors: list[str] = field(default_factory=list)

    def new_page(self, viewport: dict[str, int] | None = None) -> Any:
        context = self.browser.new_context(viewport=viewport or DESKTOP, base_url=self.base_url)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("pageerror", lambda error: self.page_errors.append(f"{page.url}: {error}"))
        return page

    def login(self, page: Any, username: str, password: str = DEMO_PASSWORD) -> None:
        page.goto("/app/login/")
        page.fill("#username", username)
        page.fill("#password", password)
        page.click("#login-submit")
        page.wait_for_url("**/app/queue/")
        expect(page.locator("#user-name")).to_have_text(username)  # the shell is up (hidden on small screens)

    def screenshot(self, page: Any, name: str, full_page: bool = True) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        if full_page:
            page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar would otherwise sit mid-page
        page.wait_for_timeout(400)  # let entrance animations finish
        page.screenshot(path=str(path), full_page=full_page, animations="disabled")
        return path


@pytest.fixture
def browser(stack: Stack) -> Iterator[Browser]:
    """Debian's Chromium, headless. Function-scoped: it closes before the test database is flushed."""
    from playwright.sync_api import sync_playwright

    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} not found: install Debian's Chromium (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        ui = Browser(base_url=stack.url, browser=chromium)
        try:
            yield ui
        finally:
            chromium.close()
        assert not ui.page_errors, "JavaScript errors in the pages:\n" + "\n".join(ui.page_errors)
