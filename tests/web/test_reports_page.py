"""The Reports page in a real browser against the running system: an admin sees everyone's figures, filters them,
downloads a table as CSV (parsed here) and follows a figure to the tasks behind it; a role's lead sees their role's
figures; an agent their own. Screenshots: test-output/screenshots/5x-reports-*.png (copied to docs/screenshots/)."""
from __future__ import annotations

import csv
import io
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import expect

from tests.web.conftest import ADMIN, Browser, Stack, publish_ticket

TICKETS = 6


def loaded(page) -> None:
    page.wait_for_selector("body[data-reports-loaded]")


def agents_shown(page) -> list[str]:
    return page.locator("#rp-agents-table tbody tr td:first-child").all_inner_texts()


def test_reports_page_for_an_admin_a_lead_and_an_agent(stack: Stack, browser: Browser) -> None:
    api = stack.api
    tickets = [publish_ticket(priority="urgent" if i < 2 else "low") for i in range(TICKETS)]
    tasks = [api.wait_for_task(ticket["ticket_id"]) for ticket in tickets]
    holders = {}
    for task in tasks[:3]:  # Triage approved: on to the network engineers' Fix step
        holder = task["assigned_username"]
        response = api.post(f"/tasks/{task['task_id']}/actions/", {"action": "approve"}, as_user=(holder, "demo-pass-123"))
        assert response.status_code == 200, response.text
        holders[task["task_id"]] = response.json()["assigned_username"]
    rejected = api.post(f"/tasks/{tasks[3]['task_id']}/actions/", {"action": "reject"})
    assert rejected.status_code == 200, rejected.text
    engineers = {r["name"]: r["id"] for r in api.get("/api/v1/roles/", params={"system": "TTS"})["results"]}["Network Engineer"]
    [lead] = api.get("/agents/", params={"search": "agent4"})["results"]  # a lead is one of the role's members
    assert api.request("PUT", f"/roles/{engineers}/settings/", json={"lead_user_id": lead["user_id"]}).status_code == 200

    admin = browser.new_page()
    browser.login(admin, *ADMIN)
    admin.click("nav a[href='/app/reports/']")
    admin.wait_for_url("**/app/reports/**")
    loaded(admin)
    today = admin.locator("#rp-throughput-table tbody tr").first
    expect(today.locator("td[data-label='Created']")).to_have_text(str(TICKETS))
    expect(today.locator("td[data-label='Rejected']")).to_have_text("1")
    assert admin.locator("#rp-throughput-chart").bounding_box()["height"] > 100  # Chart.js drew into it
    expect(admin.locator("#rp-backlog-table tbody tr")).to_have_count(2)  # Triage and Fix
    browser.screenshot(admin, "50-reports-admin")

    # Filtered to urgent tasks: the two urgent tickets.
    admin.select_option("#rp-priority", "urgent")
    expect(admin.locator("#rp-throughput-table tbody tr").first.locator("td[data-label='Created']")).to_have_text("2")
    assert "priority=urgent" in admin.url

    # The throughput table as CSV: the same rows the API gives, urgent only.
    with admin.expect_download() as download:
        admin.click("#rp-throughput [data-csv='throughput']")
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert download.value.suggested_filename == "throughput-rows.csv"
    assert sum(int(row["created"]) for row in rows) == 2 and {"key", "label", "completed", "csat_average"} <= set(rows[0])

    # A figure leads to the tasks behind it: the open tasks at the Fix step's role.
    admin.select_option("#rp-priority", "")
    loaded(admin)
    fix = admin.locator("#rp-backlog-table tbody tr", has_text="Network Engineer")
    expect(fix.locator("td[data-label='Open']")).to_have_text("3")
    fix.locator("td[data-label='Open'] a").click()
    admin.wait_for_url("**/app/queue/**")
    expect(admin.locator("#filter-note")).to_be_visible()
    expect(admin.locator("#queue-body tr")).to_have_count(3)

    # Dated figures keep their days: today's tasks created (all six) and rejected (one), in the report's zone.
    for column, dated, count in (("Created", "created", TICKETS), ("Rejected", "closed", 1)):
        admin.goto("/app/reports/")
        loaded(admin)
        row = admin.locator("#rp-throughput-table tbody tr").first
        day, tz = row.locator("td[data-label='Period']").inner_text(), admin.input_value("#rp-tz")
        expect(row.locator(f"td[data-label='{column}']")).to_have_text(str(count))
        row.locator(f"td[data-label='{column}'] a").click()
        admin.wait_for_url("**/app/queue/**")
        address = parse_qs(urlsplit(admin.url).query)
        assert address[f"{dated}_from"] == address[f"{dated}_to"] == [day] and address["tz"] == [tz], admin.url
        expect(admin.locator("#filter-note-days")).to_have_text(f": {dated} {day} to {day} ({tz})")
        expect(admin.locator("#queue-summary")).to_contain_text(f"{count} task")
        expect(admin.locator("#queue-body tr")).to_have_count(count)
    expect(admin.locator("#queue-body tr")).to_contain_text(tasks[3]["external_ticket_id"])
    # The same list on other days is empty: the days filter it.
    admin.goto(admin.url.replace(f"closed_to={day}", "closed_to=2099-01-01").replace(f"closed_from={day}", "closed_from=2099-01-01"))
    expect(admin.locator("#queue-summary")).to_contain_text("0 tasks")

    # The lead of the network engineers: their role's figures only (the engineers holding the Fix step).
    lead_page = browser.new_page()
    browser.login(lead_page, "agent4")
    lead_page.goto("/app/reports/")
    loaded(lead_page)
    assert sorted(agents_shown(lead_page)) == sorted(set(holders.values()))
    expect(lead_page.locator("#rp-throughput-table tbody tr").first.locator("td[data-label='Assigned']")).to_have_text("3")
    browser.screenshot(lead_page, "51-reports-lead")

    # An agent: their own figures only.
    agent = tasks[0]["assigned_username"]
    agent_page = browser.new_page()
    browser.login(agent_page, agent)
    agent_page.goto("/app/reports/")
    loaded(agent_page)
    assert agents_shown(agent_page) == [agent]
    expect(agent_page.locator("#rp-role")).to_be_hidden()
    browser.screenshot(agent_page, "52-reports-agent")
