"""The routing simulator page in a real browser, against the running system: an admin runs the prefilled example
and reads what each ticket would get; nothing is created."""
from __future__ import annotations

import json

from playwright.sync_api import expect

from tests.web.conftest import ADMIN, Browser, Stack


def test_admin_simulates_tickets_and_reads_the_answer(stack: Stack, browser: Browser) -> None:
    tasks_before = stack.api.get("/tasks/")["count"]
    admin = browser.new_page()
    browser.login(admin, *ADMIN)
    admin.goto("/app/admin/simulator/")
    editor = admin.locator("#sim-json")
    example = json.loads(editor.input_value())
    assert [t["ticket_id"] for t in example] == ["SIM-1", "SIM-2", "SIM-3", "SIM-4"]

    admin.click("#sim-run")
    results = admin.locator("#sim-results .sim-result")
    expect(results).to_have_count(4)
    network = results.nth(0)
    expect(network).to_have_attribute("data-outcome", "task")
    expect(network).to_contain_text("Network Issue")  # the demo workflow, any department (no Finance one)
    expect(network).to_contain_text("Triage")
    expect(network.locator(".sim-pick")).to_have_count(2)
    expect(network.locator(".sim-user").first).not_to_have_text("nobody")
    expect(results.nth(1)).to_have_attribute("data-outcome", "task")
    expect(results.nth(1)).to_contain_text("Equipment Request")
    expect(results.nth(2)).to_have_attribute("data-outcome", "unrouted")
    expect(results.nth(3)).to_have_attribute("data-outcome", "dead_letter")
    expect(results.nth(3).locator(".dl-reason")).to_contain_text("priority: Must be one of")
    expect(admin.locator("#sim-summary")).to_contain_text("2 new tasks, 1 unrouted ticket, 1 dead letter")
    browser.screenshot(admin, "30-admin-simulator")

    # Text, not markup: a ticket's fields never become HTML.
    editor.fill(json.dumps({"ticket_id": "<b>x</b>", "title": "<img src=x onerror=alert(1)>", "category": "IT Support",
                            "sub_category": "Network", "priority": "low"}))
    admin.click("#sim-run")
    expect(results).to_have_count(1)
    expect(results.nth(0)).to_contain_text("<b>x</b>")
    assert admin.locator("#sim-results img, #sim-results b").count() == 0

    editor.fill('{"ticket_id": ')
    admin.click("#sim-run")
    expect(admin.locator("#sim-errors")).to_contain_text("not valid JSON")
    assert stack.api.get("/tasks/")["count"] == tasks_before
