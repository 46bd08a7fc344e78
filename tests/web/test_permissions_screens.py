"""Permissions in the browser against the running system: an admin grants them per role on the Roles page, a user
sees the pages (and nav links) their roles permit and no others, and the Audit log shows the auth service's audit
as a source beside the engine's."""
from __future__ import annotations

import requests
from playwright.sync_api import expect

from tests.web.conftest import ADMIN, DEMO_PASSWORD, Browser, Stack

MANAGER = "budget2"  # a Budget Approver, given a role with users.manage below


def test_admin_grants_permissions_per_role_and_the_auth_audit_shows_beside_the_engines(
    stack: Stack, browser: Browser
) -> None:
    admin = browser.new_page()
    browser.login(admin, *ADMIN)
    admin.click("nav a[href='/app/admin/roles/']")
    admin.wait_for_url("**/app/admin/roles/")

    # An existing role's permissions, one checkbox each; grant one more and save.
    admin.locator("#roles-body tr[data-role-name='Supervisor']").click()
    permissions = admin.locator("#role-permissions")
    expect(permissions.locator("input[value='reports.view']")).to_be_checked()
    expect(permissions.locator("input[value='calendar.manage']")).not_to_be_checked()
    expect(permissions.locator("[data-permission='task.transfer']")).to_contain_text("Transfer one's own tasks")
    permissions.locator("input[value='calendar.manage']").check()
    admin.click("#role-permissions-save")
    expect(admin.locator("#roles-body tr[data-role-name='Supervisor']")).to_contain_text("calendar.manage")
    [supervisor] = stack.api.get("/api/v1/roles/", params={"search": "Supervisor"})["results"]
    assert "calendar.manage" in supervisor["permissions"] and "reports.view" in supervisor["permissions"]

    # A new role starts with the agents' defaults; the admin adds users.manage and gives it to a member.
    admin.click("#new-role-toggle")
    admin.fill("#new-role-form input[name=name]", "Account managers")
    expect(admin.locator("#new-role-system")).to_have_value("TTS")
    new_permissions = admin.locator("#new-role-permissions")
    expect(new_permissions.locator("input:checked")).to_have_count(3)
    new_permissions.locator("input[value='users.manage']").check()
    admin.click("#new-role-form button[type=submit]")
    expect(admin.locator("#role-panel-name")).to_have_text("Account managers")
    admin.select_option("#add-member-select", label=MANAGER)
    admin.click("#add-member-submit")
    expect(admin.locator(f"#role-members li[data-username='{MANAGER}']")).to_be_visible()
    browser.screenshot(admin, "50-admin-role-permissions")
    [role] = stack.api.get("/api/v1/roles/", params={"search": "Account managers"})["results"]
    assert role["permissions"] == ["task.act", "task.transfer", "task.escalate", "users.manage"]

    # Someone guesses agent1's password (audited as a failed login, from this machine).
    guess = requests.post(f"{stack.url}/token/", json={"username": "agent1", "password": "guess"}, timeout=10)
    assert guess.status_code == 401

    # The manager sees the pages users.manage opens, and no others.
    manager = browser.new_page()
    browser.login(manager, MANAGER, DEMO_PASSWORD)
    for href in ("users", "roles", "availability", "audit"):
        expect(manager.locator(f"nav a[href='/app/admin/{href}/']")).to_be_visible()
    for href in ("health", "workflows", "dead-letters", "calendars"):
        expect(manager.locator(f"nav a[href='/app/admin/{href}/']")).to_be_hidden()
    manager.goto("/app/admin/health/")
    expect(manager.locator("#forbidden")).to_be_visible()
    expect(manager.locator("#forbidden-permission")).to_have_text("admin")

    # Their Audit log is the auth service's (the engine's is for admins): the grant, with actor, target and address.
    manager.goto("/app/admin/audit/")
    expect(manager.locator("#au-source")).to_have_value("auth")
    expect(manager.locator("#au-source option[value=engine]")).to_have_attribute("hidden", "")
    expect(manager.locator("#au-ticket")).to_be_hidden()
    granted = manager.locator("#au-body tr[data-action='role.granted']").first
    expect(granted).to_contain_text("admin")
    expect(granted).to_contain_text(MANAGER)
    expect(granted).to_contain_text("Role TTS:Account managers")
    expect(granted.locator(".au-address")).to_have_text("from 127.0.0.1")

    # Filtered on the server: by event type, then by target from a row.
    manager.select_option("#au-action", "login.failed")
    failures = stack.api.get("/api/v1/audit/", params={"event_type": "login.failed"})["count"]
    assert failures >= 1
    expect(manager.locator("#au-summary")).to_have_text(f"{failures} event" + ("s" if failures != 1 else ""))
    failed = manager.locator("#au-body tr[data-target='agent1']").first
    expect(failed).to_contain_text("Anonymous")
    with manager.expect_response(lambda r: "/api/v1/audit/?" in r.url and "target=agent1" in r.url):
        failed.get_by_role("button", name="agent1", exact=True).click()
    expect(manager.locator("#au-target")).to_have_value("agent1")
    assert "source=auth" in manager.url and "target=agent1" in manager.url
    browser.screenshot(manager, "51-audit-auth-source")

    # The admin's Audit log starts on the engine's events and switches to the auth service's, the choice kept in
    # the address.
    admin.goto("/app/admin/audit/")
    expect(admin.locator("#au-source")).to_have_value("engine")
    with admin.expect_response(lambda r: "/api/v1/audit/?" in r.url):
        admin.select_option("#au-source", "auth")
    expect(admin.locator("#au-body tr[data-action='role.changed']").first).to_contain_text("TTS:Supervisor")
    admin.reload()
    expect(admin.locator("#au-source")).to_have_value("auth")
    expect(admin.locator("#au-summary")).to_have_text(
        f"{stack.api.get('/api/v1/audit/', params={'page_size': 1})['count']} events"
    )
