"""The workflow designer in a real browser, against the running system: an admin designs a workflow from nothing,
fixes the validation error shown next to its step, replays recent tickets against it, deploys it; a ticket HDTS then
publishes is routed by it."""
from __future__ import annotations

from playwright.sync_api import expect

from tests.conftest import wait_for
from tests.web.conftest import ADMIN, Browser, Stack, publish_ticket


def test_admin_designs_replays_and_deploys_a_workflow_that_then_routes_tickets(stack: Stack, browser: Browser) -> None:
    waiting = publish_ticket(sub_category="Printer", title="Printer jams on every page", priority="medium")
    wait_for(lambda: stack.api.get("/unrouted-tickets/")["count"] == 1, message="the printer ticket kept unrouted")

    admin = browser.new_page()
    browser.login(admin, *ADMIN)
    admin.goto("/app/admin/workflows/")
    admin.click("#wf-new")
    admin.wait_for_url("**/app/admin/workflows/designer/#new")
    admin.fill("#wd-name", "Printer Support")
    admin.fill("#wd-category", "IT Support")
    admin.fill("#wd-sub-category", "Printer")
    admin.select_option("#wd-coordinator", label="Ticket Coordinator")
    admin.click("#wd-add-step")
    step = admin.locator("#wd-steps tr.wd-step").first
    step.locator("[data-field=name]").fill("Diagnose")
    step.locator("[data-field=role_id]").select_option(label="IT Support Agent")
    expect(step.locator("[data-field=sla_weight]")).to_have_value("100")
    expect(admin.locator("#wd-graph [data-step=Diagnose]")).to_be_visible()  # the graph follows the edits

    # The deploy validation, next to the step it is about: no way forward from Diagnose yet.
    step_errors = admin.locator("#wd-steps tr.wd-row-errors").first
    expect(step_errors).to_contain_text("Step 'Diagnose' has no approve transition.")
    expect(admin.locator("#wd-check")).to_contain_text("problem")
    expect(admin.locator("#wd-graph .graph-step-problem[data-step=Diagnose]")).to_have_count(1)
    browser.screenshot(admin, "40-workflow-designer-error")

    admin.click("#wd-add-transition")  # from the last step: approve → end
    transition = admin.locator("#wd-transitions tr.wd-transition").first
    expect(transition.locator("[data-field=from_step]")).to_have_value("Diagnose")
    expect(admin.locator("#wd-check")).to_have_text("Ready to deploy")
    expect(step_errors).to_be_hidden()
    expect(admin.locator("#wd-graph .graph-step-problem")).to_have_count(0)

    admin.click("#wd-save")
    expect(admin.locator("#wd-summary")).to_contain_text("revision 1 · saved")
    workflow_id = int(admin.evaluate("location.hash.slice(1)"))

    admin.click("#wd-impact")
    row = admin.locator(f"#wd-impact-changed tr.wd-impact-row[data-ticket='{waiting['ticket_id']}']")
    expect(row).to_contain_text("Workflow")
    expect(row).to_contain_text("Unrouted")
    expect(row).to_contain_text("Diagnose · IT Support Agent")
    expect(admin.locator("#wd-impact-load tr.wd-load-row", has_text="IT Support Agent")).to_contain_text("+1")
    browser.screenshot(admin, "41-workflow-designer-impact")
    assert stack.api.task_for_ticket(waiting["ticket_id"]) is None  # the replay created nothing

    admin.click("#wd-deploy")
    expect(admin.locator("#wd-summary")).to_contain_text("deployed")
    expect(admin.locator("#wd-readonly")).to_be_visible()
    expect(admin.locator("#wd-name")).to_be_disabled()
    browser.screenshot(admin, "42-workflow-designer-deployed")

    # The ticket kept unrouted is routed at deploy; one HDTS publishes now is routed too.
    for ticket in (waiting, publish_ticket(sub_category="Printer", title="Toner streaks")):
        task = stack.api.wait_for_task(ticket["ticket_id"])
        assert (task["workflow_id"], task["current_step_name"], task["role_name"]) == (workflow_id, "Diagnose", "IT Support Agent")
