"""Issue 17's task lists in the browser, on 100,000 tasks (generate_history's two years of a help desk): an agent finds
tasks by a word of their description on the server, saves the view and picks it again, and transfers three tasks at
once, one of which is refused with its reason shown. No request of the page asks for more than one page of tasks."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from playwright.sync_api import expect

from auth_service.models import Role
from tests.web.conftest import Browser, Stack
from tts import history
from tts_common.base import permissions
from workflow_api.models import Task, UserReplica
from workflow_api.services.assignment import role_pools

TASKS = 100_000
SEED = 14  # tests/scale/test_query_plans.py's too: the session writes the history once (generated_history)
WORD = "flamingo"  # in no generated description

# One xdist worker takes both tests of the 100,000-task history (this and the query plans): it is written once.
pytestmark = [pytest.mark.timeout(900), pytest.mark.xdist_group("history_100k")]


@dataclass(frozen=True)
class Scene:
    agent: str
    agent_id: int
    colleague: int
    to_hand_over: list[str]  # tasks of the role not the agent's yet (an admin hands them over first)
    mine: list[str]  # the three task ids; the last the agent puts on hold before the bulk transfer


@pytest.fixture
def scene(generated_history: Callable[..., None]) -> Scene:
    """The role with the most tasks in progress: an available agent of it, a colleague, and three of its tasks in
    progress (the agent's own first), whose descriptions get the word. Written before the demo (the generator writes
    only into an empty database or one it marked) and before the browser starts (Playwright's loop keeps the ORM
    out of the test's thread)."""
    generated_history(tasks=TASKS, seed=SEED)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as autovacuum would after a load this size
    working = Task.objects.filter(status=Task.Status.IN_PROGRESS)
    role_id = working.values("current_step__role_id").annotate(n=Count("pk")).order_by("-n")[0]["current_step__role_id"]
    at_role = working.filter(current_step__role_id=role_id)
    eligible = role_pools([role_id], now=timezone.now())[role_id].eligible
    load = dict(at_role.values_list("assigned_user_id").annotate(n=Count("pk")))
    agent_id, colleague_id = sorted(eligible, key=lambda user_id: -load.get(user_id, 0))[:2]
    picked = sorted(at_role.order_by("-created_at")[:50], key=lambda t: t.assigned_user_id != agent_id)[:3]
    assert len(picked) == 3, picked
    for task in picked:
        Task.objects.filter(pk=task.pk).update(description=f"{task.description} The {WORD} sticker is on the box.")
    # Bulk actions take a permission of their own, which generated agents' roles do not grant.
    for role in Role.objects.filter(assignments__user_id=agent_id):
        role.permissions = sorted({*role.permissions, permissions.TASK_BULK})
        role.save(update_fields=["permissions"])
    return Scene(
        agent=UserReplica.objects.get(pk=agent_id).username,
        agent_id=agent_id,
        colleague=colleague_id,
        to_hand_over=[str(t.task_id) for t in picked if t.assigned_user_id != agent_id],
        mine=[str(t.task_id) for t in picked],
    )


def test_agent_searches_saves_a_view_and_bulk_transfers_on_100k_tasks(scene: Scene, stack: Stack, browser: Browser) -> None:
    agent, colleague, (*mine, held) = scene.agent, scene.colleague, scene.mine
    as_agent = (agent, history.GENERATED_PASSWORD)
    as_admin = (f"gen{SEED}-admin", history.GENERATED_PASSWORD)
    for task in scene.to_hand_over:
        handed = stack.api.post(f"/tasks/{task}/actions/", {"action": "transfer", "to_user": scene.agent_id}, as_user=as_admin)
        assert handed.status_code == 200, handed.text
    page = browser.new_page()
    task_requests: list[str] = []
    page.on("request", lambda r: task_requests.append(r.url) if urlsplit(r.url).path == "/tasks/" else None)
    browser.login(page, *as_agent)
    expect(page.locator("#queue-summary")).to_contain_text("assigned to or owned by you")

    # Found on the server by a word of the description.
    page.fill("#filter-search", WORD)
    rows = page.locator("#queue-body tr.queue-row")
    expect(rows).to_have_count(3)
    expect(page.locator("#queue-summary")).to_contain_text(f"3 tasks matching “{WORD}”")
    shown = {rows.nth(i).get_attribute("data-task-id") for i in range(3)}
    assert shown == {*mine, held}

    # Saved, then chosen again from the list after the search is cleared.
    page.select_option("#filter-ordering", "-created_at")
    page.click("#view-save")
    page.fill("#view-name", "Flamingo boxes")
    page.click("#view-save-submit")
    expect(page.locator("#view-select option:checked")).to_have_text("Flamingo boxes")
    [saved] = stack.api.get("/tasks/views/", as_user=as_agent)["results"]
    assert (saved["name"], saved["query"]["q"], saved["query"]["ordering"]) == ("Flamingo boxes", WORD, "-created_at")
    page.fill("#filter-search", "")
    page.select_option("#filter-status", "completed")
    expect(page.locator("#queue-summary")).to_contain_text("0 tasks assigned to or owned by you")
    page.select_option("#view-select", label="Flamingo boxes")
    expect(rows).to_have_count(3)
    expect(page.locator("#filter-status")).to_have_value("open")
    expect(page.locator("#filter-search")).to_have_value(WORD)

    # Three selected, transferred at once: two done, the one the agent put on hold refused with its reason.
    hold = {"action": "hold", "notes": "Waiting for the courier"}
    assert stack.api.post(f"/tasks/{held}/actions/", hold, as_user=as_agent).status_code == 200
    page.click("#refresh")
    expect(page.locator(f"#queue-body tr[data-task-id='{held}'] .badge-status-on_hold")).to_be_visible()
    page.check("#select-page")
    expect(page.locator("#bulk-count")).to_have_text("3 selected")
    expect(page.locator(f"#bulk-user option[value='{colleague}']")).to_be_attached()
    page.select_option("#bulk-user", str(colleague))
    page.fill("#bulk-notes", "Flamingo boxes go to the warehouse team")
    page.click("#bulk-apply")
    expect(page.locator("#bulk-summary")).to_have_text("Transfer: 2 done, 1 refused")
    refused = page.locator(f"#bulk-results-list li[data-task-id='{held}']")
    expect(refused).to_have_class("bulk-outcome is-refused")
    expect(refused).to_contain_text("Cannot transfer a task that is on_hold.")
    for task in mine:
        expect(page.locator(f"#bulk-results-list li[data-task-id='{task}']")).to_contain_text("Done")
    expect(rows).to_have_count(1)  # the list reloaded: the two transferred left the agent's queue
    expect(page.locator(f"#queue-body tr[data-task-id='{held}']")).to_be_visible()
    browser.screenshot(page, "task-list-bulk")

    for task in mine:  # as if transferred one by one: the new assignee, the audit event by the agent
        assert stack.api.get(f"/tasks/{task}/", as_user=as_admin)["assigned_user"] == colleague
        events = stack.api.get("/audit/", params={"task": task, "action": "task.transferred"}, as_user=as_admin)
        event = events["results"][0]  # newest first
        assert (event["actor_username"], event["data"]["to_user"]) == (agent, colleague)
    assert stack.api.get(f"/tasks/{held}/", as_user=as_admin)["status"] == "on_hold"
    sizes = [int(parse_qs(urlsplit(url).query).get("page_size", ["50"])[0]) for url in task_requests]
    assert sizes and max(sizes) <= 50, task_requests  # one page at most, never the whole list
