"""The email preferences page in a real browser against the running system."""
from __future__ import annotations

from playwright.sync_api import expect

from tests.web.conftest import DEMO_PASSWORD, Browser, Stack

PREFERENCES = "/api/v2/notifications/preferences/"


def test_agent_sets_email_modes_quiet_hours_and_digest(stack: Stack, browser: Browser) -> None:
    page = browser.new_page()
    browser.login(page, "agent1")
    page.goto("/app/notifications/")
    page.click("#notif-preferences")
    page.wait_for_url("**/app/notifications/preferences/")
    assignment = page.locator("select[data-type=task_assignment]")
    expect(assignment).to_have_value("immediate")  # the defaults
    expect(page.locator("select[data-type=comment_added]")).to_have_value("off")
    expect(page.locator("#prefs-quiet-start")).to_be_disabled()

    page.select_option("select[data-type=comment_added]", "if_unread")
    page.select_option("select[data-type=sla_warning]", "digest")
    page.fill("#prefs-delay", "30")
    page.fill("#prefs-time-zone", "Europe/Berlin")
    page.select_option("#prefs-digest-hour", "9")
    page.check("#prefs-quiet")
    page.fill("#prefs-quiet-start", "21:30")
    page.fill("#prefs-quiet-end", "06:45")
    page.check("input[data-exempt=sla_breach]")
    page.click("#prefs-save")
    expect(page.locator(".toast-success", has_text="Preferences saved.")).to_be_visible()
    browser.screenshot(page, "notification-preferences")

    page.reload()
    expect(page.locator("select[data-type=comment_added]")).to_have_value("if_unread")
    expect(page.locator("select[data-type=sla_warning]")).to_have_value("digest")
    expect(page.locator("#prefs-delay")).to_have_value("30")
    expect(page.locator("#prefs-digest-hour")).to_have_value("9")
    expect(page.locator("#prefs-quiet-start")).to_have_value("21:30")
    expect(page.locator("input[data-exempt=sla_breach]")).to_be_checked()
    agent = ("agent1", DEMO_PASSWORD)
    saved = stack.api.get(PREFERENCES, as_user=agent)
    assert (saved["time_zone"], saved["email_modes"]["comment_added"], saved["quiet_hours_exempt_types"]) == (
        "Europe/Berlin", "if_unread", ["sla_breach"],
    )  # fmt: skip

    # A bad value is refused with the API's field error, and nothing changes.
    page.fill("#prefs-time-zone", "Moon/Tranquility_Base")
    page.click("#prefs-save")
    expect(page.locator(".toast-error")).to_contain_text("Time zone")
    assert stack.api.get(PREFERENCES, as_user=agent)["time_zone"] == "Europe/Berlin"
    assert browser.page_errors == []
