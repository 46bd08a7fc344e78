"""The web UI in a real browser against the running system (uvicorn + Celery worker on PostgreSQL/RabbitMQ/Redis).

Every test saves screenshots of the pages it visits under test-output/screenshots/.
"""
from __future__ import annotations

import re
import uuid

import requests
from playwright.sync_api import expect

from tests.conftest import wait_for
from tests.web.conftest import ADMIN, DEMO_PASSWORD, Browser, OutsideSystems, Stack, publish_ticket

LIVE = 60_000  # ms: a message crossing broker, worker, channel layer and WebSocket


def open_task(page, task_id: str) -> None:
    page.goto(f"/app/tasks/{task_id}/")
    expect(page.locator("#task-layout")).to_be_visible()


def test_agent_logs_in_sees_the_queued_task_and_approves_it(stack: Stack, browser: Browser) -> None:
    ticket = publish_ticket(priority="high", title="VPN drops every 10 minutes on the 3rd floor")
    task = stack.api.wait_for_task(ticket["ticket_id"])
    agent = task["assigned_username"]
    assert agent in {"agent1", "agent2", "agent3"}  # the Triage step's role, round-robin

    page = browser.new_page()
    page.goto("/app/login/")
    browser.screenshot(page, "01-login")
    browser.login(page, agent)

    # My queue: the task with its priority, step and a running SLA countdown.
    row = page.locator(f"#queue-body tr[data-ticket-id='{ticket['ticket_id']}']")
    expect(row).to_be_visible()
    expect(row).to_contain_text(ticket["title"])
    expect(row).to_contain_text("Triage")
    expect(row.locator(".badge-priority-urgent")).to_have_text("Urgent")  # HDTS high → internal urgent
    expect(row.locator(".sla")).to_have_text(re.compile(r"\d+h \d{2}m left"))
    expect(page.locator("#bell-count")).to_have_text("1", timeout=LIVE)  # the assignment notification
    page.fill("#filter-search", "no such task anywhere")
    expect(page.locator("#queue-empty")).to_be_visible()
    page.fill("#filter-search", "vpn drops")
    expect(row).to_be_visible()
    browser.screenshot(page, "02-queue")

    # The task page: ticket data, attachments, steps ahead, assignment history, the assignee's actions.
    row.locator("a.row-link").click()
    page.wait_for_url(f"**/app/tasks/{task['task_id']}/")
    expect(page.locator("#task-title")).to_have_text(ticket["title"])
    expect(page.locator("#ticket-facts")).to_contain_text("Maria Santos")
    expect(page.locator("#ticket-facts")).to_contain_text("IT Support › Network")
    expect(page.locator("#attachments a")).to_have_attribute("href", ticket["attachments"][0]["url"])
    expect(page.locator("#timeline .timeline-active")).to_contain_text("Triage")
    expect(page.locator("#timeline .timeline-upcoming")).to_contain_text("Fix")
    expect(page.locator("#assignments")).to_contain_text(agent)
    decision = page.locator("#decisions li[data-outcome=assigned]")  # why: the round-robin pick among the role
    expect(decision).to_contain_text(agent)
    expect(decision).to_contain_text("Round robin, if none: Hold · 3 candidate(s)")
    expect(page.locator("#task-sla")).to_be_visible()
    expect(page.locator("#pauses")).to_contain_text("The SLA clock has not been paused.")
    expect(page.locator("#ticket-facts")).to_contain_text("Next SLA warning50% · ")
    for action in ("approve", "reject", "escalate", "transfer", "hold"):
        expect(page.locator(f"[data-action={action}]")).to_be_visible()
    browser.screenshot(page, "03-task")

    page.fill("#action-notes", "Triage done: the access switch drops the tunnel; over to network.")
    page.click("[data-action=approve]")
    expect(page.locator(".toast-success", has_text="Approve done")).to_be_visible()
    expect(page.locator("#task-subtitle")).to_contain_text("step Fix")
    expect(page.locator("#timeline .timeline-approved")).to_contain_text("Triage")
    expect(page.locator("#action-form")).to_be_hidden()  # no longer this agent's to act on
    browser.screenshot(page, "04-task-approved")

    after = stack.api.get(f"/tasks/{task['task_id']}/")
    assert after["current_step_name"] == "Fix"
    assert after["assigned_username"] in {"agent4", "agent5", "agent6"}
    triage = next(step for step in after["step_history"] if step["step_name"] == "Triage")
    assert triage["status"] == "approved"
    assert triage["acted_by"] == task["assigned_user"]


def test_a_new_comment_appears_live_in_another_users_browser(stack: Stack, browser: Browser) -> None:
    ticket = publish_ticket(
        priority="medium",
        title="Wi-Fi access point down in meeting room B",
        description="No Wi-Fi in meeting room B since this morning; the access point's light is off.",
        attachments=[{"filename": "ap-photo.jpg", "url": "https://files.example.com/hd/ap-photo.jpg"}],
    )
    task = stack.api.wait_for_task(ticket["ticket_id"])
    # The comments open once messaging_service's copy of the ticket's participants arrives (just after the task).
    comments = f"/api/comments/?ticket_id={ticket['ticket_id']}"
    wait_for(lambda: stack.api.request("GET", comments).status_code == 200, message="the ticket's participants")

    agent = browser.new_page()
    browser.login(agent, task["assigned_username"])
    open_task(agent, task["task_id"])
    expect(agent.locator("#comments-live")).to_have_attribute("data-state", "open")
    agent.evaluate("window.__notReloaded = true")
    dialogs: list[str] = []
    agent.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    admin = browser.new_page()
    browser.login(admin, *ADMIN)
    open_task(admin, task["task_id"])
    expect(admin.locator("#comments-live")).to_have_attribute("data-state", "open")

    # Markup in a comment is text: it must arrive verbatim and never become elements.
    text = 'Checked the AP: <b>port 12</b> is dead <img src=x onerror="alert(1)"> — replacing the cable.'
    admin.fill("#comment-text", text)
    admin.click("#comment-submit")
    expect(admin.locator(".comment.is-mine .comment-text")).to_have_text(text)

    arrived = agent.locator(".comment .comment-text").last
    expect(arrived).to_have_text(text, timeout=LIVE)
    expect(agent.locator(".comment").last.locator(".comment-author")).to_have_text("admin")
    assert agent.locator(".comment-text b, .comment-text img").count() == 0
    assert agent.evaluate("window.__notReloaded") is True
    assert dialogs == []

    # And back the other way.
    agent.fill("#comment-text", "Thanks — I'll confirm with the requester once it's replaced.")
    agent.click("#comment-submit")
    expect(admin.locator(".comment .comment-text").last).to_have_text(
        "Thanks — I'll confirm with the requester once it's replaced.", timeout=LIVE
    )
    browser.screenshot(agent, "05-comments-agent")
    browser.screenshot(admin, "06-comments-admin")

    stored = stack.api.get("/api/comments/", params={"ticket_id": ticket["ticket_id"]})["results"]
    assert [c["text"] for c in stored][0] == text


def test_admin_adds_a_user_to_a_role_and_that_user_receives_the_next_task(stack: Stack, browser: Browser) -> None:
    api = stack.api
    suffix = uuid.uuid4().hex[:4]
    role_name, username, password = f"Field Technician {suffix}", f"tech{suffix}", "field-pass-2718"

    admin = browser.new_page()
    browser.login(admin, *ADMIN)

    # A new role, created on the Roles page.
    admin.goto("/app/admin/roles/")
    expect(admin.locator("#roles-body")).to_contain_text("IT Support Agent")
    admin.click("#new-role-toggle")
    admin.select_option("#new-role-system", "TTS")
    admin.fill("#new-role-form input[name=name]", role_name)
    admin.click("#new-role-form button[type=submit]")
    expect(admin.locator(".toast-success", has_text=f"Created the role {role_name}")).to_be_visible()
    expect(admin.locator("#role-panel-name")).to_have_text(role_name)
    expect(admin.locator("#role-members")).to_contain_text("No members")

    # A new user, created on the Users page.
    admin.goto("/app/admin/users/")
    admin.click("#new-user-toggle")
    admin.fill("#new-user-form input[name=username]", username)
    admin.fill("#new-user-form input[name=email]", f"{username}@example.com")
    admin.fill("#new-user-form input[name=first_name]", "Tess")
    admin.fill("#new-user-form input[name=last_name]", "Ramos")
    admin.fill("#new-user-form input[name=password]", password)
    admin.click("#new-user-form button[type=submit]")
    expect(admin.locator("#panel-username")).to_have_text(username)
    expect(admin.locator("#panel-roles")).to_contain_text("no roles")

    # A workflow whose only step is that role (the workflow editor is not part of this UI: the API defines it).
    role_id = api.get("/api/v1/roles/", params={"search": role_name})["results"][0]["id"]
    coordinator = api.get("/api/v1/roles/", params={"search": "Ticket Coordinator"})["results"][0]["id"]
    definition = {
        "name": "Facilities Repair",
        "description": "Repairs on site.",
        "category": "Facilities",
        "sub_category": f"Repair {suffix}",
        "coordinator_role_id": coordinator,
        "sla_hours": {"urgent": 2, "high": 8, "medium": 24, "low": 72},
        "steps": [{"name": "Repair", "order": 1, "role_id": role_id, "sla_weight": "100"}],
        "transitions": [
            {"from_step": "Repair", "action": "approve", "to_step": None},
            {"from_step": "Repair", "action": "reject", "to_step": None},
        ],
    }
    # The role reaches workflow_api's replica through the role sync queue: retry until it has.
    created = wait_for(
        lambda: (response := api.post("/workflows/", definition)).status_code == 201 and response.json(),
        timeout=60,
        message="the new role to reach workflow_api",
    )
    assert api.post(f"/workflows/{created['id']}/deploy/", {}).status_code == 200

    # The new user signs in (second browser) and has nothing to do yet.
    tech = browser.new_page()
    browser.login(tech, username, password)
    expect(tech.locator("#queue-empty")).to_be_visible()
    expect(tech.locator("#bell-count")).to_be_hidden()

    # The admin adds the user to the role on the Users page.
    admin.fill("#user-search", username)
    expect(admin.locator("#users-summary")).to_have_text("1 user")
    admin.locator(f"#users-body tr[data-username='{username}']").click()
    expect(admin.locator("#panel-username")).to_have_text(username)
    admin.select_option("#add-role-select", label=role_name)
    admin.click("#add-role-submit")
    expect(admin.locator(".toast-success", has_text=f"Added {username} to {role_name}")).to_be_visible()
    expect(admin.locator("#panel-roles")).to_contain_text(role_name)
    expect(admin.locator(f"#users-body tr[data-username='{username}']")).to_contain_text(role_name)
    browser.screenshot(admin, "07-admin-users")

    # The next ticket for that workflow lands in the user's open queue, live (no reload), and rings the bell.
    tech.evaluate("window.__notReloaded = true")
    ticket = publish_ticket(
        category="Facilities", sub_category=f"Repair {suffix}", priority="urgent", title="Door lock broken at the loading bay"
    )
    row = tech.locator(f"#queue-body tr[data-ticket-id='{ticket['ticket_id']}']")
    expect(row).to_be_visible(timeout=LIVE)
    expect(row).to_contain_text("Repair")
    expect(tech.locator("#bell-count")).to_have_text("1", timeout=LIVE)
    assert tech.evaluate("window.__notReloaded") is True
    browser.screenshot(tech, "08-queue-new-task-live")
    assert api.task_for_ticket(ticket["ticket_id"])["assigned_username"] == username

    # The role page shows the membership from the role's side.
    admin.goto("/app/admin/roles/")
    admin.locator(f"#roles-body tr[data-role-name='{role_name}']").click()
    expect(admin.locator(f"#role-members li[data-username='{username}']")).to_be_visible()
    # Its fairness view counts the one task the new member got.
    expect(admin.locator("#fairness-users li")).to_have_text(f"{username}1")
    expect(admin.locator("#fairness-spread")).to_have_text("Spread (most - fewest): 0")
    browser.screenshot(admin, "09-admin-roles")

    # The bell lists the assignment; opening it goes to the task and marks it read.
    tech.click("#bell")
    item = tech.locator("#bell-list .notif").first
    expect(item).to_contain_text("Door lock broken")
    browser.screenshot(tech, "10-bell", full_page=False)
    item.click()
    tech.wait_for_url("**/app/tasks/**")
    expect(tech.locator("#task-title")).to_have_text("Door lock broken at the loading bay")
    expect(tech.locator("#bell-count")).to_be_hidden()


def test_admin_pages_workflow_graph_and_health(stack: Stack, browser: Browser) -> None:
    admin = browser.new_page()
    browser.login(admin, *ADMIN)

    admin.goto("/app/admin/workflows/")
    admin.locator(".wf-item", has_text="Network Issue").click()
    expect(admin.locator("#wf-title")).to_have_text("Network Issue")
    graph = admin.locator("#wf-graph svg")
    expect(graph.locator(".graph-step")).to_have_count(2)
    expect(graph.locator(".graph-step").nth(0)).to_contain_text("Triage")
    expect(graph.locator(".graph-step").nth(1)).to_contain_text("Fix")
    expect(graph).to_contain_text("Completed")
    expect(graph).to_contain_text("Rejected")
    expect(graph.locator(".graph-edge-approve")).to_have_count(2)
    expect(graph.locator(".graph-edge-reject")).to_have_count(2)
    expect(admin.locator("#wf-steps")).to_contain_text("Network Engineer")
    expect(admin.locator("#wf-facts")).to_contain_text("SLA clockRound the clock")
    expect(admin.locator("#wf-facts")).to_contain_text("SLA warnings50%, 75%, 90%")
    admin.locator(".wf-item", has_text="Equipment Request").click()
    expect(admin.locator("#wf-steps tr", has_text="Budget Approval")).to_contain_text("BMS budget check")
    admin.locator(".wf-item", has_text="Network Issue").click()
    expect(admin.locator("#wf-title")).to_have_text("Network Issue")
    browser.screenshot(admin, "11-admin-workflows")

    admin.goto("/app/admin/health/")
    for component in ("database", "broker", "auth"):  # answering ("degraded" = slower than 1 s: a loaded CI box)
        card = admin.locator(f".health-card[data-component={component}]")
        expect(card).to_have_attribute("data-status", re.compile(r"^(ok|degraded)$"))
    # The kinds of server really in use (the embedded default would show Filesystem, In-memory).
    expect(admin.locator(".health-card[data-component=database]")).to_contain_text("PostgreSQL · ")
    expect(admin.locator(".health-card[data-component=broker]")).to_contain_text("RabbitMQ · ")
    expect(admin.locator(".health-card[data-component=channel_layer]")).to_contain_text("Redis · ")
    expect(admin.locator(".health-card[data-component=ams]")).to_have_attribute("data-status", "not_configured")
    expect(admin.locator(".health-card[data-component=ams]")).to_contain_text("Not configured")
    browser.screenshot(admin, "12-admin-health")

    admin.goto("/app/notifications/")
    expect(admin.locator("#notif-summary")).to_contain_text("notification")

    # An agent reaching an admin page gets a plain explanation, not data or an error dump.
    agent = browser.new_page()
    browser.login(agent, "agent1")
    expect(agent.locator("nav a[href='/app/admin/users/']")).to_be_hidden()
    agent.goto("/app/admin/users/")
    expect(agent.locator("#forbidden")).to_be_visible()
    expect(agent.locator("#forbidden")).to_contain_text("Permission needed")
    expect(agent.locator("#forbidden-permission")).to_have_text("users.manage")
    expect(agent.locator("#users-body tr")).to_have_count(0)
    browser.screenshot(agent, "13-forbidden")


def test_budget_check_outage_is_decided_by_an_admin_and_shown_on_the_health_page(
    outside_systems: OutsideSystems, stack: Stack, browser: Browser
) -> None:
    bms = outside_systems.bms
    ticket = publish_ticket(
        category="Procurement", sub_category="Equipment", title="Laptop for the new analyst", amount="1450.00",
        asset_id="LAPTOP-14", duration_days=30,
    )  # fmt: skip
    task = stack.api.wait_for_task(ticket["ticket_id"])
    review = stack.api.post(f"/tasks/{task['task_id']}/actions/", {"action": "approve"}, as_user=("super1", DEMO_PASSWORD))
    assert review.json()["status"] == "awaiting_external"  # the reservation (AMS), then the budget step
    task = stack.api.wait_for_task_state(
        task["task_id"], lambda t: t["current_step_name"] == "Budget Approval", "the reservation made"
    )
    approver = task["assigned_username"]
    assert approver in {"budget1", "budget2"}

    bms.answer(500, {"detail": "maintenance"})  # the check and its one retry both fail
    budget = stack.api.post(f"/tasks/{task['task_id']}/actions/", {"action": "approve"}, as_user=(approver, DEMO_PASSWORD))
    assert budget.json()["status"] == "awaiting_external"
    wait_for(lambda: stack.api.get(f"/tasks/{task['task_id']}/")["status"] == "pending_external_approval", timeout=60)
    assert bms.hits == 2

    admin = browser.new_page()
    browser.login(admin, *ADMIN)
    open_task(admin, task["task_id"])
    expect(admin.locator("#task-badges")).to_contain_text("Pending external approval")
    expect(admin.locator("#external-card")).to_contain_text("No answer from BMS")
    expect(admin.locator("#external-card")).to_contain_text("HTTP 500")
    for action in ("external_approve", "external_reject", "external_retry"):
        expect(admin.locator(f"[data-action={action}]")).to_be_visible()
    expect(admin.locator("[data-action=approve]")).to_have_count(0)
    browser.screenshot(admin, "18-task-pending-external")

    admin.fill("#action-notes", "Approved by the CFO on the phone")
    admin.fill("#action-reference", "BUD-PHONE-7")
    admin.click("[data-action=external_approve]")
    expect(admin.locator(".toast-success", has_text="Approve by hand done")).to_be_visible()
    expect(admin.locator("#task-badges")).to_contain_text("Completed")
    expect(admin.locator("#external-facts")).to_contain_text("BUD-PHONE-7")
    assert stack.api.get(f"/tasks/{task['task_id']}/")["external_reference"] == "BUD-PHONE-7"

    admin.goto("/app/admin/health/")
    card = admin.locator(".health-card[data-component=bms]")
    expect(card).to_have_attribute("data-status", "degraded")
    expect(card).to_contain_text("1 of 1 calls")
    expect(card).to_contain_text("HTTP 500")
    expect(admin.locator(".health-card[data-component=ams]")).to_have_attribute("data-status", "ok")
    browser.screenshot(admin, "19-admin-health-integrations")


def test_sessions_refresh_expire_and_errors_read_plainly(stack: Stack, browser: Browser) -> None:
    ticket = publish_ticket(
        priority="low", title="Slow file share from the branch office", description="Copying 10 MB takes minutes."
    )
    task = stack.api.wait_for_task(ticket["ticket_id"])
    agent = task["assigned_username"]

    page = browser.new_page()
    # This page's notification socket stays silent, so it does not learn of the transfer below by itself and the
    # stale Approve button is still there to press (as on a page whose live updates lag).
    page.route_web_socket(re.compile(r"/ws/notifications/"), lambda socket: None)
    # Not signed in: to the login page, and back to the page asked for afterwards.
    page.goto(f"/app/tasks/{task['task_id']}/")
    page.wait_for_url("**/app/login/**")
    expect(page.locator("#login-message")).to_have_text("Please sign in to continue.")
    page.fill("#username", agent)
    page.fill("#password", "wrong-password")
    page.click("#login-submit")
    expect(page.locator("#login-message")).to_contain_text("Wrong username or password")
    page.fill("#password", "demo-pass-123")
    page.click("#login-submit")
    page.wait_for_url(f"**/app/tasks/{task['task_id']}/")
    expect(page.locator("#task-title")).to_have_text(ticket["title"])

    # An access token about to expire is refreshed (POST /token/refresh/) before the page uses it. The expiry is
    # moved on a page of the same origin that runs none of the app: the task page's sockets reconnect on timers, and
    # a refresh one of them started just before the page went away rotated the refresh token under the next page
    # (a 401 there, seen once in CI).
    before, used_refresh = page.evaluate("[JSON.parse(sessionStorage.getItem('tts.session')).access,"
                                         " JSON.parse(sessionStorage.getItem('tts.session')).refresh]")  # fmt: skip
    page.goto("/health/live")
    page.evaluate(
        "() => { const s = JSON.parse(sessionStorage.getItem('tts.session'));"
        " s.exp = Date.now() / 1000 + 5; sessionStorage.setItem('tts.session', JSON.stringify(s)); }"
    )
    with page.expect_response("**/token/refresh/") as refreshed:
        page.goto(f"/app/tasks/{task['task_id']}/")
    assert refreshed.value.status == 200
    expect(page.locator("#task-title")).to_have_text(ticket["title"])
    after = page.evaluate("JSON.parse(sessionStorage.getItem('tts.session'))")
    assert after["access"] != before and after["exp"] > page.evaluate("Date.now() / 1000") + 60
    # The refresh token was rotated: the page keeps the new one, the one it used is spent.
    assert after["refresh"] != used_refresh
    spent = requests.post(f"{stack.url}/token/refresh/", json={"refresh_token": used_refresh}, timeout=10)
    assert spent.status_code == 401

    # A forbidden action (the task was transferred away meanwhile) reads as the API's plain message.
    colleague = next(name for name in ("agent1", "agent2", "agent3") if name != agent)
    colleague_id = stack.api.get("/api/v1/users/", params={"search": colleague})["results"][0]["id"]
    moved = stack.api.post(f"/tasks/{task['task_id']}/actions/", {"action": "transfer", "to_user": colleague_id})
    assert moved.status_code == 200, moved.text
    page.click("[data-action=approve]")
    toast = page.locator(".toast-error")
    expect(toast).to_contain_text("Approve failed: Only the task's current assignee or an admin can act on it.")
    assert "Traceback" not in toast.inner_text()
    expect(page.locator("#task-subtitle")).to_contain_text(f"assigned to {colleague}")  # reloaded after the refusal
    browser.screenshot(page, "14-forbidden-action")

    # A task that does not exist (or is not visible) says so.
    page.goto(f"/app/tasks/{uuid.uuid4()}/")
    expect(page.locator("#task-error")).to_contain_text("Task not found")

    # A session the server no longer accepts: back to the login page, saying why.
    page.goto("/app/queue/")
    page.evaluate(
        "() => { const s = JSON.parse(sessionStorage.getItem('tts.session'));"
        " s.access = s.access.slice(0, -4) + 'AAAA'; s.refresh = 'revoked'; s.exp = Date.now() / 1000 + 3600;"
        " sessionStorage.setItem('tts.session', JSON.stringify(s)); }"
    )
    page.reload()
    page.wait_for_url("**/app/login/?reason=expired**")
    expect(page.locator("#login-message")).to_have_text("Your session has expired. Please sign in again.")
    browser.screenshot(page, "15-session-expired")


def test_sign_out_revokes_the_session(stack: Stack, browser: Browser) -> None:
    page = browser.new_page()
    browser.login(page, "agent4")
    refresh = page.evaluate("JSON.parse(sessionStorage.getItem('tts.session')).refresh")

    page.click("#logout")

    page.wait_for_url("**/app/login/?reason=signedout")
    assert page.evaluate("sessionStorage.getItem('tts.session')") is None
    # A copy of the refresh token taken before signing out is worthless.
    copied = requests.post(f"{stack.url}/token/refresh/", json={"refresh_token": refresh}, timeout=10)
    assert copied.status_code == 401


def test_small_screens(stack: Stack, browser: Browser) -> None:
    ticket = publish_ticket(
        priority="medium",
        title="Printer VLAN unreachable from floor 2",
        description="Nobody on floor 2 can print since the switch was replaced.",
    )
    task = stack.api.wait_for_task(ticket["ticket_id"])
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    browser.login(phone, task["assigned_username"])
    row = phone.locator(f"#queue-body tr[data-ticket-id='{ticket['ticket_id']}']")
    expect(row).to_be_visible()
    # No horizontal scrolling on a phone.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    browser.screenshot(phone, "16-mobile-queue")
    row.locator("a.row-link").click()
    expect(phone.locator("#task-layout")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    browser.screenshot(phone, "17-mobile-task")
