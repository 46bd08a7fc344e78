"""The demo's Equipment Request against the strict AMS and BMS fakes, on the running system (web process, worker,
RabbitMQ): the supervisor's approval asks AMS for the ticket's asset, AMS refuses it with alternatives, the
supervisor picks one in the browser and it is reserved; the budget approver's approval is checked by BMS, approved
for one ticket and rejected for another; every answer is shown on the task page."""
from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import DEMO_PASSWORD, Browser, OutsideSystems, Stack, publish_ticket


def equipment_request(stack: Stack, **fields: Any) -> dict[str, Any]:
    ticket = publish_ticket(
        category="Procurement", sub_category="Equipment", title="Laptop for the new analyst", department="Finance",
        description="A 14-inch laptop with a docking station.", attachments=[], duration_days=30,
        justification="New analyst starts on Monday", **fields,
    )  # fmt: skip
    return stack.api.wait_for_task(ticket["ticket_id"])


def open_task(page: Any, task_id: str) -> None:
    page.goto(f"/app/tasks/{task_id}/")
    expect(page.locator("#task-layout")).to_be_visible()


def approve_as(stack: Stack, task: dict[str, Any], username: str, notes: str = "") -> dict[str, Any]:
    response = stack.api.post(
        f"/tasks/{task['task_id']}/actions/", {"action": "approve", "notes": notes}, as_user=(username, DEMO_PASSWORD)
    )
    assert response.status_code == 200, response.content
    return response.json()


def test_equipment_request_reservation_refused_asset_chosen_in_the_browser_then_budget_checked(
    outside_systems: OutsideSystems, stack: Stack, browser: Browser
) -> None:
    ams, bms = outside_systems.ams, outside_systems.bms
    ams.unavailable["LAPTOP-14"] = ["LAPTOP-15", "LAPTOP-16"]
    task = equipment_request(stack, asset_id="LAPTOP-14", amount="1299.00")
    task_id = task["task_id"]
    assert task["assigned_username"] == "super1"

    # The supervisor approves in the browser; AMS refuses the asset and offers two others.
    page = browser.new_page()
    browser.login(page, "super1")
    open_task(page, task_id)
    page.fill("#action-notes", "Standard analyst kit")
    page.click("[data-action=approve]")
    # The page shows the approval went out; AMS may already have refused by the time it redraws (a loaded machine).
    expect(page.locator("#task-badges")).to_contain_text(re.compile("Awaiting external|Awaiting asset selection"))
    waiting = stack.api.wait_for_task_state(
        task_id, lambda t: t["status"] == "awaiting_asset_selection", "AMS's refusal applied"
    )
    supervisor_id = waiting["external_requested_by"]
    assert (waiting["external_error"], waiting["asset_alternatives"]) == ("Asset not available", ["LAPTOP-15", "LAPTOP-16"])
    assert ams.bodies == [{
        "asset_id": "LAPTOP-14", "requester_id": supervisor_id, "task_id": task_id, "duration_days": 30,
        "notes": "Standard analyst kit",
    }]  # fmt: skip

    page.reload()
    card = page.locator("#asset-card")
    expect(page.locator("#task-badges")).to_contain_text("Awaiting asset selection")
    expect(page.locator("#external-card")).to_contain_text("Waiting for an asset to be chosen")
    expect(card.locator("#asset-error")).to_contain_text("Asset not available")
    expect(card.locator("input[name=asset-choice][value=LAPTOP-15]")).to_be_checked()
    expect(card.locator(".asset-choice", has_text="LAPTOP-16")).to_be_visible()
    expect(page.locator("#asset-days-field")).to_be_hidden()  # the ticket says 30 days
    expect(page.locator("#action-form")).to_be_hidden()  # nothing else to do until an asset is chosen
    card.locator(".asset-choice", has_text="LAPTOP-16").click()
    browser.screenshot(page, "31-task-asset-selection")
    page.click("#asset-submit")
    expect(page.locator(".toast-success", has_text="Asked AMS to reserve LAPTOP-16")).to_be_visible()

    reserved = stack.api.wait_for_task_state(
        task_id, lambda t: t["current_step_name"] == "Budget Approval", "the chosen asset reserved"
    )
    assert ams.bodies[-1] == {
        "asset_id": "LAPTOP-16", "requester_id": supervisor_id, "task_id": task_id, "duration_days": 30,
        "notes": "Standard analyst kit",
    }  # fmt: skip
    assert reserved["ams_reservation"]["asset_details"] == {
        "name": "Laptop LAPTOP-16", "model": "ThinkPad T14 Gen 5", "serial": "SN-LAPTOP-16",
    }  # fmt: skip
    page.reload()
    expect(card).to_contain_text("RES-1")
    expect(card).to_contain_text("SN-LAPTOP-16")
    expect(card).to_contain_text("Confirmed")
    expect(page.locator("#asset-form")).to_be_hidden()

    # The budget approver approves; BMS approves the budget.
    approver = reserved["assigned_username"]
    assert approver in {"budget1", "budget2"}
    assert approve_as(stack, reserved, approver, "Within the hiring plan")["status"] == "awaiting_external"
    done = stack.api.wait_for_task_state(task_id, lambda t: t["status"] == "completed", "BMS's approval applied")
    assert bms.bodies == [{
        "department": "Finance", "amount": "1299.00", "currency": "PHP", "category": "Procurement",
        "requester_id": done["external_requested_by"], "justification": "New analyst starts on Monday",
    }]  # fmt: skip
    assert done["bms_answer"]["remaining_balance"] == "98701.00" and done["external_reference"] == "BUD-1"
    admin = browser.new_page()
    browser.login(admin, "admin", "admin-demo-pass")
    open_task(admin, task_id)
    external = admin.locator("#external-card")
    expect(external).to_contain_text("Approved by BMS")
    expect(external).to_contain_text("BUD-1")
    expect(external).to_contain_text("98701.00")
    expect(admin.locator("#asset-card")).to_contain_text("SN-LAPTOP-16")
    browser.screenshot(admin, "32-task-reserved-and-budget-approved")

    # A second request, over the department's budget: BMS rejects it and the task ends rejected.
    task = equipment_request(stack, asset_id="LAPTOP-20", amount="250000.00")
    approve_as(stack, task, "super1")
    reserved = stack.api.wait_for_task_state(
        task["task_id"], lambda t: t["current_step_name"] == "Budget Approval", "the second reservation"
    )
    approve_as(stack, reserved, reserved["assigned_username"])
    rejected = stack.api.wait_for_task_state(task["task_id"], lambda t: t["status"] == "rejected", "BMS's rejection")
    assert rejected["bms_answer"] == {
        "approved": False, "reason": "Exceeds the Finance budget", "available_amount": "100000.00",
        "rejection_code": "INSUFFICIENT_FUNDS",
    }  # fmt: skip
    open_task(admin, task["task_id"])
    expect(external).to_contain_text("Rejected by BMS")
    expect(external).to_contain_text("INSUFFICIENT_FUNDS")
    expect(external).to_contain_text("100000.00")
    assert ams.refused == [] and bms.refused == []  # every request in the specified shape
