"""The admin screens that were API-only, in a real browser against the running system (uvicorn + Celery worker on
PostgreSQL/RabbitMQ/Redis): calendars, availability (the header control every user has, and the admins' page) and
the audit log."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from playwright.sync_api import expect

from tests.conftest import wait_for
from tests.web.conftest import ADMIN, Browser, Stack, publish_ticket

AGENTS = ("agent1", "agent2", "agent3")  # the Network Issue workflow's first step (IT Support Agent)


def user_id(stack: Stack, username: str) -> int:
    [agent] = stack.api.get("/agents/", params={"search": username})["results"]
    return agent["user_id"]


def calendar_named(stack: Stack, name: str) -> dict[str, Any] | None:
    return next((c for c in stack.api.get("/calendars/")["results"] if c["name"] == name), None)


def tasks_of(stack: Stack, tickets: list[dict[str, Any]]) -> dict[str, str]:
    """ticket id -> username of the assignee, once every ticket's task is assigned."""
    return {t["ticket_id"]: stack.api.wait_for_task(t["ticket_id"])["assigned_username"] for t in tickets}


def test_admin_creates_a_calendar_sees_overlaps_refused_edits_it_and_sees_its_workflows(stack: Stack, browser: Browser) -> None:
    admin = browser.new_page()
    browser.login(admin, *ADMIN)
    admin.click("nav a[href='/app/admin/calendars/']")
    admin.wait_for_url("**/app/admin/calendars/")
    expect(admin.locator("#cal-summary")).to_have_text("0 calendars")

    # A new calendar starts Mon–Fri 09:00–17:00; Tuesday gets an evening window that overlaps the day's hours.
    admin.click("#cal-new")
    admin.fill("#cal-name", "Manila support desk")
    admin.fill("#cal-zone", "Asia/Manila")
    tuesday = admin.locator(".cal-day[data-day='tue']")
    tuesday.get_by_role("button", name="Add a window on Tuesday").click()
    admin.get_by_label("Tuesday window 2 start").fill("16:00")
    admin.get_by_label("Tuesday window 2 end").fill("20:00")
    admin.fill("#cal-holiday-date", "2026-12-25")
    admin.click("#cal-holiday-add")
    expect(admin.locator("#cal-holidays li[data-date='2026-12-25']")).to_be_visible()
    admin.click("#cal-save")

    # Refused: the API's error is shown next to Tuesday, and nothing was stored.
    error = admin.locator("#cal-day-error-tue")
    expect(error).to_have_text("16:00–20:00 overlaps 09:00–17:00.")
    expect(tuesday).to_have_class("cal-day has-error")
    expect(admin.locator("#cal-day-error-mon")).to_be_hidden()
    expect(admin.locator(".toast-error", has_text="not saved")).to_be_visible()
    assert calendar_named(stack, "Manila support desk") is None
    browser.screenshot(admin, "40-admin-calendar-overlap-refused")

    # Fixed: the evening window starts when the day's ends.
    admin.get_by_label("Tuesday window 2 start").fill("17:00")
    admin.click("#cal-save")
    expect(admin.locator(".toast-success", has_text="Created Manila support desk.")).to_be_visible()
    expect(error).to_be_hidden()
    row = admin.locator("#cal-body tr[data-name='Manila support desk']")
    expect(row).to_contain_text("Mon 09:00–17:00 · Tue 09:00–17:00, 17:00–20:00 · Wed–Fri 09:00–17:00")
    expect(row).to_contain_text("No workflow")
    stored = calendar_named(stack, "Manila support desk")
    assert stored is not None
    assert stored["weekly_hours"]["tue"] == [["09:00", "17:00"], ["17:00", "20:00"]]
    assert stored["holidays"] == ["2026-12-25"] and stored["time_zone"] == "Asia/Manila"

    # Edited: Saturday mornings, Friday closed, one more holiday and one fewer.
    admin.locator(".cal-day[data-day='sat']").get_by_role("button", name="Add a window on Saturday").click()
    admin.get_by_label("Saturday window 1 end").fill("12:00")
    admin.get_by_role("button", name="Remove Friday window 1").click()
    expect(admin.locator(".cal-day[data-day='fri'] .cal-closed")).to_have_text("Closed")
    admin.fill("#cal-holiday-date", "2027-01-01")
    admin.click("#cal-holiday-add")
    admin.get_by_role("button", name="Remove holiday 2026-12-25").click()
    admin.click("#cal-save")
    expect(admin.locator(".toast-success", has_text="Saved Manila support desk.")).to_be_visible()
    stored = calendar_named(stack, "Manila support desk")
    assert stored is not None
    assert stored["weekly_hours"]["sat"] == [["09:00", "12:00"]] and "fri" not in stored["weekly_hours"]
    assert stored["holidays"] == ["2027-01-01"]

    # A workflow takes the calendar (through the API, as a workflow editor would): the page lists it, and the
    # calendar cannot be deleted while it is used.
    network = next(w for w in stack.api.get("/workflows/", params={"status": "deployed"})["results"] if w["name"] == "Network Issue")
    assert stack.api.request("PATCH", f"/workflows/{network['id']}/", json={"calendar_id": stored["id"]}).status_code == 200
    admin.reload()
    row.click()
    usage = admin.locator(f"#cal-workflows li[data-workflow-id='{network['id']}']")
    expect(usage).to_contain_text("Network Issue")
    expect(usage.locator(".badge-wf-deployed")).to_have_text("Deployed")
    expect(usage.locator("a")).to_have_attribute("href", f"/app/admin/workflows/#{network['id']}")
    expect(row.locator(".cal-used")).to_contain_text("Network Issue v1")
    browser.screenshot(admin, "41-admin-calendars")
    admin.once("dialog", lambda dialog: dialog.accept())
    admin.click("#cal-delete")
    expect(admin.locator(".toast-error", has_text="used by workflows")).to_be_visible()
    assert calendar_named(stack, "Manila support desk") is not None

    # Agents may read calendars through the API but get no page.
    agent = browser.new_page()
    browser.login(agent, "agent1")
    expect(agent.locator("nav a[href='/app/admin/calendars/']")).to_be_hidden()
    agent.goto("/app/admin/calendars/")
    expect(agent.locator("#forbidden")).to_be_visible()


def test_an_agent_away_from_the_header_gets_no_new_task_until_active_again(stack: Stack, browser: Browser) -> None:
    agent = browser.new_page()
    browser.login(agent, "agent1")
    presence = agent.locator("#presence-button")
    expect(presence).to_contain_text("Active")

    # An out-of-office window that ends before it starts is refused inline; nothing changes.
    presence.click()
    agent.fill("#presence-from", "2030-01-10T09:00")
    agent.fill("#presence-until", "2030-01-09T09:00")
    agent.click("#presence-save")
    expect(agent.locator("#presence-errors")).to_contain_text("Must be after away_from.")
    expect(presence).to_contain_text("Active")

    # Away, with a reason.
    agent.click("#presence-status .segment[data-status='away']")
    expect(agent.locator("#presence-from")).to_be_hidden()
    agent.fill("#presence-reason", "Dentist appointment")
    browser.screenshot(agent, "42-header-availability", full_page=False)
    agent.click("#presence-save")
    expect(agent.locator(".toast-success", has_text="You are away")).to_be_visible()
    expect(presence).to_contain_text("Away")
    expect(presence).to_have_attribute("data-status", "away")
    me = user_id(stack, "agent1")
    assert stack.api.get(f"/agents/{me}/availability/")["status"] == "away"

    # Tickets HDTS publishes meanwhile go to the two other agents only.
    while_away = [publish_ticket(title=f"Switch port {n} flapping") for n in range(4)]
    assignees = tasks_of(stack, while_away)
    assert "agent1" not in assignees.values() and set(assignees.values()) == {"agent2", "agent3"}, assignees
    agent.reload()
    expect(agent.locator("#presence-button")).to_contain_text("Away")  # the status survives a reload
    expect(agent.locator(".queue-row")).to_have_count(0)

    # The admins' page shows who is away, why, and their load; an admin caps agent2 at what they hold.
    admin = browser.new_page()
    browser.login(admin, *ADMIN)
    admin.click("nav a[href='/app/admin/availability/']")
    row = admin.locator("#av-body tr[data-username='agent1']")
    expect(row).to_have_attribute("data-status", "away")
    expect(row).to_contain_text("Dentist appointment")
    expect(row.locator(".av-open")).to_have_text("0")
    expect(admin.locator("#av-count-away")).to_have_text("1")
    held = sum(1 for name in assignees.values() if name == "agent2")
    agent2 = admin.locator("#av-body tr[data-username='agent2']")
    expect(agent2.locator(".av-open")).to_have_text(str(held))
    agent2.click()
    admin.fill("#av-capacity", str(held))
    admin.click("#av-save")
    expect(admin.locator(".toast-success", has_text="agent2 is now active")).to_be_visible()
    expect(agent2.locator(".av-load")).to_contain_text("at capacity")
    assert stack.api.get(f"/agents/{user_id(stack, 'agent2')}/availability/")["max_open_tasks"] == held
    admin.select_option("#av-status", "away")
    expect(admin.locator("#av-body tr")).to_have_count(1)
    admin.select_option("#av-status", "")
    browser.screenshot(admin, "43-admin-availability")

    # Active again: agent1 is eligible and gets new work (agent2, at capacity, does not).
    agent.click("#presence-button")
    agent.click("#presence-status .segment[data-status='active']")
    agent.fill("#presence-reason", "")
    agent.click("#presence-save")
    expect(agent.locator(".toast-success", has_text="You are active")).to_be_visible()
    expect(agent.locator("#presence-button")).to_have_attribute("data-status", "active")
    back = [publish_ticket(title=f"Wi-Fi dead zone in room {n}") for n in range(2)]
    assignees = tasks_of(stack, back)
    assert "agent1" in assignees.values() and "agent2" not in assignees.values(), assignees
    mine = [ticket for ticket, name in assignees.items() if name == "agent1"]
    expect(agent.locator(".queue-row")).to_have_count(len(mine))  # pushed to the open queue live

    # The admin's page follows (the admin reloads it).
    admin.reload()
    expect(admin.locator("#av-body tr[data-username='agent1']")).to_have_attribute("data-status", "active")
    expect(admin.locator("#av-body tr[data-username='agent1'] .av-open")).to_have_text(str(len(mine)))


def test_admin_filters_the_audit_log_and_pages_on_the_server(stack: Stack, browser: Browser) -> None:
    tickets = [publish_ticket(title=f"Printer queue stuck {n}") for n in range(2)]
    tasks_of(stack, tickets)
    first = stack.api.task_for_ticket(tickets[0]["ticket_id"])
    assert first is not None
    approved = stack.api.post(f"/tasks/{first['task_id']}/actions/", {"action": "approve", "notes": "Triaged"})
    assert approved.status_code == 200, approved.text
    agent4 = user_id(stack, "agent4")
    for n in range(26):  # 26 availability changes: two pages of 25
        body = {"status": "away" if n % 2 else "active", "reason": f"change {n}"}
        assert stack.api.request("PUT", f"/agents/{agent4}/availability/", json=body).status_code == 200
    total = stack.api.get("/audit/", params={"page_size": 1})["count"]

    admin = browser.new_page()
    browser.login(admin, *ADMIN)
    admin.click("nav a[href='/app/admin/audit/']")
    admin.wait_for_url("**/app/admin/audit/")
    expect(admin.locator("#au-summary")).to_have_text(f"{total} events")
    expect(admin.locator("#au-body tr")).to_have_count(25)

    # By event type: 26 events, two pages, fetched page by page.
    admin.select_option("#au-action", "agent.availability_changed")
    expect(admin.locator("#au-summary")).to_have_text("26 events")
    expect(admin.locator("#au-pager")).to_contain_text("Page 1 of 2")
    expect(admin.locator("#au-body tr[data-action='agent.availability_changed']")).to_have_count(25)
    browser.screenshot(admin, "44-admin-audit")
    with admin.expect_response(lambda r: "/audit/?" in r.url and "page=2" in r.url) as page_two:
        admin.click("#au-pager button:has-text('Next')")
    assert page_two.value.json()["count"] == 26 and len(page_two.value.json()["results"]) == 1
    expect(admin.locator("#au-body tr")).to_have_count(1)
    expect(admin.locator("#au-body tr")).to_contain_text("change 0")  # the oldest, last
    assert "page=2" in admin.url and "action=agent.availability_changed" in admin.url

    # By ticket: only that ticket's events; the address keeps the filters, so a reload shows the same view.
    admin.click("#au-clear")
    ticket_id = tickets[0]["ticket_id"]
    admin.fill("#au-ticket", ticket_id)
    rows = admin.locator("#au-body tr")
    expected = stack.api.get("/audit/", params={"ticket_id": ticket_id})["count"]
    assert expected >= 2
    expect(admin.locator("#au-summary")).to_have_text(f"{expected} events")
    expect(rows).to_have_count(expected)
    for index in range(expected):
        expect(rows.nth(index)).to_have_attribute("data-ticket-id", ticket_id)
    admin.reload()
    expect(admin.locator("#au-ticket")).to_have_value(ticket_id)
    expect(admin.locator("#au-summary")).to_have_text(f"{expected} events")
    browser.screenshot(admin, "45-admin-audit-ticket")

    # By actor, from a row: the admin's own availability changes.
    admin.click("#au-clear")
    admin.select_option("#au-action", "agent.availability_changed")
    admin.locator("#au-body tr").first.get_by_role("button", name="admin", exact=True).click()
    expect(admin.locator("#au-actor")).to_have_value("admin")
    expect(admin.locator("#au-summary")).to_have_text("26 events")

    # By date range (the browser's days): today holds every event, tomorrow none.
    admin.click("#au-clear")
    today = date.today()
    admin.fill("#au-from", today.isoformat())
    admin.fill("#au-to", today.isoformat())
    expect(admin.locator("#au-summary")).to_have_text(f"{wait_for(lambda: stack.api.get('/audit/', params={'page_size': 1})['count'])} events")
    admin.fill("#au-from", (today + timedelta(days=1)).isoformat())
    admin.fill("#au-to", "")
    expect(admin.locator("#au-summary")).to_have_text("0 events")
    expect(admin.locator("#au-body")).to_contain_text("No events match")

    # A task id that is not one: the API's 400 is shown by the filters, not a broken page.
    admin.click("#au-clear")
    admin.fill("#au-task", "not-a-task")
    expect(admin.locator("#au-errors")).to_contain_text("Task: Enter a valid UUID.")
    expect(admin.locator("#au-body tr")).to_have_count(0)

    # Agents get neither the link nor the events.
    agent = browser.new_page()
    browser.login(agent, "agent1")
    expect(agent.locator("nav a[href='/app/admin/audit/']")).to_be_hidden()
    agent.goto("/app/admin/audit/")
    expect(agent.locator("#forbidden")).to_be_visible()
    expect(agent.locator("#au-body tr")).to_have_count(0)
