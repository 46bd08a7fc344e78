"""The admin intake pages in a real browser: dead letters (inspect, correct, reprocess), unrouted tickets and
integration errors, against the running system (uvicorn + Celery worker on PostgreSQL/RabbitMQ/Redis)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from playwright.sync_api import expect

from tests.conftest import wait_for
from tests.web.conftest import ADMIN, Browser, Stack, publish_ticket


def drain_dead_letter(stack: Stack, ticket_id: str) -> None:
    """What the beat job ``dead_letters_drain`` does every 15 s, run here until the ticket's letter is listed.

    In a thread of its own: Playwright's sync API keeps an event loop in this one, where Django refuses the ORM."""
    from django.db import connection

    from workflow_api.services.dead_letters import dead_letters_drain

    def drain() -> None:
        try:
            dead_letters_drain()
        finally:
            connection.close()

    def stored() -> bool:
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(drain).result()
        return bool(stack.api.get("/dead-letters/", params={"ticket_id": ticket_id})["count"])

    wait_for(stored, timeout=60, interval=0.5, message=f"the dead letter of {ticket_id}")


def test_admin_corrects_and_reprocesses_a_dead_letter(stack: Stack, browser: Browser) -> None:
    # HDTS sends a ticket TTS cannot accept: the worker dead-letters it, the drain stores it.
    bad = publish_ticket(priority="extreme", title="Printer on the 2nd floor jams on every job")
    unrouted = publish_ticket(
        title="Parking gate badge reader broken", category="Facilities", sub_category="Parking", priority="low"
    )
    drain_dead_letter(stack, bad["ticket_id"])
    assert stack.api.task_for_ticket(bad["ticket_id"]) is None

    admin = browser.new_page()
    browser.login(admin, *ADMIN)
    admin.click("nav a[href='/app/admin/dead-letters/']")
    admin.wait_for_url("**/app/admin/dead-letters/")
    row = admin.locator(f"#dl-body tr[data-ticket-id='{bad['ticket_id']}']")
    expect(row).to_contain_text("priority")
    expect(row.locator(".badge-dl-pending")).to_have_text("Pending")
    browser.screenshot(admin, "18-admin-dead-letters")

    # The letter: why, where from, when, and the original message as text.
    row.click()
    panel = admin.locator("#dl-panel")
    expect(panel).to_be_visible()
    expect(admin.locator("#dl-title")).to_have_text(bad["ticket_id"])
    expect(admin.locator("#dl-reason")).to_contain_text("priority")
    expect(admin.locator("#dl-facts")).to_contain_text("TICKET_TASKS_PRODUCTION")
    expect(admin.locator("#dl-facts")).to_contain_text("Received")
    expect(admin.locator("#dl-message")).to_contain_text('"priority": "extreme"')
    expect(admin.locator("#dl-message")).to_contain_text(bad["title"])
    editor = admin.locator("#dl-ticket-json")
    original = editor.input_value()
    assert '"priority": "extreme"' in original

    # A correction that is still wrong is refused with its field errors, shown plainly; the letter stays pending.
    editor.fill(original.replace('"extreme"', '"critical"'))
    admin.click("#dl-reprocess")
    errors = admin.locator("#dl-errors")
    expect(errors).to_be_visible()
    expect(errors).to_contain_text("priority")
    expect(admin.locator("#dl-actions")).to_be_visible()
    browser.screenshot(admin, "19-admin-dead-letter-refused")

    # Not JSON at all: caught in the page before anything is sent.
    editor.fill('{"ticket_id": ')
    admin.click("#dl-reprocess")
    expect(errors).to_contain_text("not valid JSON")

    # Fixed: reprocessed, and the ticket becomes a task.
    editor.fill(original.replace('"extreme"', '"high"'))
    admin.fill("#dl-reprocess-note", "HDTS sent an unknown priority; set to high.")
    admin.click("#dl-reprocess")
    expect(admin.locator(".toast-success", has_text="corrected and sent for processing again")).to_be_visible()
    expect(admin.locator("#dl-subtitle .badge-dl-reprocessed")).to_have_text("Reprocessed")
    expect(admin.locator("#dl-actions")).to_be_hidden()
    expect(admin.locator("#dl-facts")).to_contain_text("HDTS sent an unknown priority; set to high.")
    expect(row).to_have_count(0)  # no longer pending
    task = stack.api.wait_for_task(bad["ticket_id"], assigned=False)
    assert task["priority"] == "urgent"  # HDTS high → internal urgent
    letter = stack.api.get("/dead-letters/", params={"ticket_id": bad["ticket_id"]})["results"][0]
    assert letter["status"] == "reprocessed"
    admin.click("#dl-status .segment[data-status='']")
    expect(admin.locator(f"#dl-body tr[data-ticket-id='{bad['ticket_id']}'] .badge-dl-reprocessed")).to_be_visible()
    browser.screenshot(admin, "20-admin-dead-letter-reprocessed")

    # Integration errors: the consumer's give-up record of the same ticket; its status is set in place.
    admin.goto(f"/app/admin/integration-errors/?ticket_id={bad['ticket_id']}")
    error_row = admin.locator(f"#ie-body tr[data-ticket-id='{bad['ticket_id']}']")
    expect(error_row).to_have_count(1)
    expect(error_row).to_contain_text("Validation")
    error_row.locator("select").select_option("escalated")
    expect(admin.locator(".toast-success", has_text="marked escalated")).to_be_visible()
    expect(error_row).to_have_attribute("data-status", "escalated")
    error = stack.api.get("/integration-errors/", params={"ticket_id": bad["ticket_id"]})["results"][0]
    assert error["status"] == "escalated"
    admin.goto("/app/admin/integration-errors/?status=")
    expect(admin.locator(f"#ie-body tr[data-ticket-id='{bad['ticket_id']}']")).to_be_visible()
    browser.screenshot(admin, "21-admin-integration-errors")

    # Unrouted tickets: the valid ticket no workflow matched, waiting.
    wait_for(lambda: stack.api.get("/unrouted-tickets/", params={"ticket_id": unrouted["ticket_id"]})["count"], timeout=60)
    admin.click(".subtabs a[href='/app/admin/unrouted/']")
    expect(admin.locator("nav.nav a.is-active")).to_have_text("Intake")
    unrouted_row = admin.locator(f"#ur-body tr[data-ticket-id='{unrouted['ticket_id']}']")
    expect(unrouted_row).to_contain_text(unrouted["title"])
    expect(unrouted_row).to_contain_text("Facilities")
    expect(unrouted_row).to_contain_text("Parking")
    expect(unrouted_row.locator(".badge-ur-waiting")).to_have_text("Waiting")
    admin.select_option("#ur-category", "Facilities")
    expect(unrouted_row).to_be_visible()
    admin.click("#ur-routed .segment[data-routed='true']")
    expect(unrouted_row).to_have_count(0)
    admin.click("#ur-routed .segment[data-routed='false']")
    expect(unrouted_row).to_be_visible()
    browser.screenshot(admin, "22-admin-unrouted")

    # Agents see neither the links nor the data.
    agent = browser.new_page()
    browser.login(agent, "agent1")
    expect(agent.locator("nav a[href='/app/admin/dead-letters/']")).to_be_hidden()
    agent.goto("/app/admin/dead-letters/")
    expect(agent.locator("#forbidden")).to_be_visible()
    expect(agent.locator("#dl-body tr")).to_have_count(0)
