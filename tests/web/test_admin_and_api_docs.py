"""Django admin and the API documentation in a real browser, with the default settings (DEBUG off, plain http): the
docs page sends a visitor without a session to the admin login, which brings the staff member back to the docs."""
from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import ADMIN, Browser, Stack


def test_staff_log_in_through_the_admin_to_read_the_api_docs(stack: Stack, browser: Browser) -> None:
    page = browser.new_page()
    failed: list[str] = []

    def record_failure(response: Any) -> None:
        if response.status >= 400:
            failed.append(f"{response.status} {response.url}")

    page.on("response", record_failure)

    response = page.goto("/api/docs/")
    assert response is not None and response.status == 401
    failed.clear()  # that refusal was the point
    page.click("text=log in through /admin/")
    page.wait_for_url("**/admin/login/?next=/api/docs/")
    page.fill("#id_username", ADMIN[0])
    page.fill("#id_password", ADMIN[1])
    page.click("input[type=submit]")
    page.wait_for_url("**/api/docs/")
    # Swagger UI fetched the schema with the session and lists the operations.
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/users/").first).to_be_visible()
    browser.screenshot(page, "api-docs", full_page=False)

    page.goto("/admin/")
    expect(page.locator("#site-name")).to_be_visible()
    # The admin's stylesheets are served (collected static files): its header is styled, not the browser default.
    assert page.locator("#header").evaluate("el => getComputedStyle(el).display") == "flex"
    assert not failed, failed
