"""The workflow designer in a real browser, against the running system: an admin designs a workflow from nothing,
fixes the validation error shown next to its step, replays recent tickets against it, deploys it; a ticket HDTS then
publishes is routed by it. Then a new version whose concurrent save is refused with a reload offer, export, import
and archive."""
from __future__ import annotations

import json

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
    browser.screenshot(admin, "50-workflow-designer-error")

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
    browser.screenshot(admin, "51-workflow-designer-impact")
    assert stack.api.task_for_ticket(waiting["ticket_id"]) is None  # the replay created nothing

    admin.click("#wd-deploy")
    expect(admin.locator("#wd-summary")).to_contain_text("deployed")
    expect(admin.locator("#wd-readonly")).to_be_visible()
    expect(admin.locator("#wd-name")).to_be_disabled()
    browser.screenshot(admin, "52-workflow-designer-deployed")

    # The ticket kept unrouted is routed at deploy; one HDTS publishes now is routed too.
    for ticket in (waiting, publish_ticket(sub_category="Printer", title="Toner streaks")):
        task = stack.api.wait_for_task(ticket["ticket_id"])
        assert (task["workflow_id"], task["current_step_name"], task["role_name"]) == (workflow_id, "Diagnose", "IT Support Agent")

    # A new version; another admin saves it first (through the API): this save is refused and a reload offered.
    admin.click("#wd-new-version")
    expect(admin.locator("#wd-summary")).to_contain_text("Version 2 · draft · revision 1")
    version_2 = int(admin.evaluate("location.hash.slice(1)"))
    other = stack.api.request("PATCH", f"/workflows/{version_2}/", json={"name": "Printers (theirs)", "revision": 1})
    assert other.status_code == 200, other.text
    admin.fill("#wd-name", "Printers (mine)")
    admin.click("#wd-save")
    expect(admin.locator("#wd-conflict")).to_be_visible()
    expect(admin.locator("#wd-conflict-text")).to_contain_text("revision 2")
    browser.screenshot(admin, "53-workflow-designer-conflict")
    admin.click("#wd-reload")
    expect(admin.locator("#wd-name")).to_have_value("Printers (theirs)")
    expect(admin.locator("#wd-conflict")).to_be_hidden()
    assert stack.api.get(f"/workflows/{version_2}/")["name"] == "Printers (theirs)"

    # Export, then import the file as a new draft of its own; archive that one.
    with admin.expect_download() as download:
        admin.click("#wd-export")
    document = json.loads(download.value.path().read_text())
    assert (document["format"], document["steps"][0]["role"]) == ("tts.workflow/1", "IT Support Agent")
    admin.set_input_files("#wd-import-file", str(download.value.path()))
    expect(admin.locator("#wd-summary")).to_contain_text("Version 1 · draft · revision 1")
    imported = int(admin.evaluate("location.hash.slice(1)"))
    assert imported not in (workflow_id, version_2)
    expect(admin.locator("#wd-heading")).to_have_text("Printers (theirs)")
    admin.once("dialog", lambda dialog: dialog.accept())
    admin.click("#wd-archive")
    expect(admin.locator("#wd-summary")).to_contain_text("archived")
    assert stack.api.get(f"/workflows/{imported}/")["status"] == "archived"
