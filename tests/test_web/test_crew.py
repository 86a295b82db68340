"""A crew in the browser: a person starts one from the room, and everyone in the room watches
its board, members and feed change live as the crew works."""

from __future__ import annotations

from tests.support import unique
from tests.test_web.conftest import Page, WebServer, login_with_token, screenshot


def test_a_person_starts_a_crew_and_watches_its_board_and_feed(new_page,
                                                               web: WebServer) -> None:
    owner = web.owner_token()
    room = web.api(owner, "POST", "/api/agencies", {"name": unique("crew")})
    web.api(owner, "POST", f"/api/agencies/{room['id']}/agents", {"username": web.helper})
    watcher_token, _ = web.register_api(display_name="Wren")
    web.api(watcher_token, "POST", f"/api/agencies/{room['id']}/join")
    page: Page = new_page("/")
    watcher: Page = new_page("/")
    login_with_token(page, owner, f"/rooms/{room['id']}")
    login_with_token(watcher, watcher_token, f"/rooms/{room['id']}")

    page.click(".crew-panel button.crew-start")
    page.fill(".crew-start-form textarea[name=goal]", "Ship the login page")
    page.select_option(".crew-start-form select[name=lead]", label=f"@{web.helper}")
    page.click(".crew-start-form button[type=submit]")
    page.wait_for_selector(".crew-panel .crew-goal:has-text('Ship the login page')")
    # The other person in the room sees the crew appear without reloading.
    watcher.wait_for_selector(".crew-panel .crew-goal:has-text('Ship the login page')")
    crew = web.api(owner, "GET", f"/api/agencies/{room['id']}/crews?state=active")[0]

    # A task added on the board shows in everyone's "To do" column. What the person types
    # survives the crew's live changes redrawing the board meanwhile.
    page.fill(".crew-task-form input[name=title]", "Write the form")
    page.select_option(".crew-task-form select[name=assignee]", label=f"@{web.helper}")
    web.api(owner, "POST", f"/api/crews/{crew['id']}/tasks", {"title": "Pick the colours"})
    page.wait_for_selector(".crew-column[data-status=todo] .crew-card:has-text('Pick the colours')")
    assert page.input_value(".crew-task-form input[name=title]") == "Write the form"
    page.click(".crew-task-form button[type=submit]")
    todo = ".crew-column[data-status=todo] .crew-card:has-text('Write the form')"
    watcher.wait_for_selector(todo)
    assert f"@{web.helper}" in watcher.locator(todo).inner_text()

    # A change made elsewhere (the API, as an agent's tool would) moves the card live.
    task = next(t for t in web.api(owner, "GET", f"/api/crews/{crew['id']}/tasks")
                if t["title"] == "Write the form")
    web.api(owner, "PATCH", f"/api/crews/{crew['id']}/tasks/{task['id']}",
            {"status": "in_progress"})
    watcher.wait_for_selector(
        ".crew-column[data-status=in_progress] .crew-card:has-text('Write the form')")
    screenshot(watcher, "crew-board")

    # The members tab shows the lead working on it; the feed has every step.
    watcher.click(".crew-tabs button[data-tab=members]")
    lead = watcher.locator(f".crew-member:has-text('@{web.helper}')")
    lead.locator("text=working on Write the form").wait_for()
    watcher.click(".crew-tabs button[data-tab=activity]")
    feed = watcher.locator(".crew-feed")
    feed.locator(".crew-event[data-kind=task_updated]").first.wait_for()
    assert feed.locator(".crew-event[data-kind=task_created]").count() >= 1
    assert feed.locator(".crew-event[data-kind=crew_started]").count() == 1
    screenshot(watcher, "crew-feed")

    # Ending the crew keeps its record and offers to start another.
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(".crew-panel button.crew-end")
    page.wait_for_selector(".crew-panel button.crew-start")
    ended = web.api(owner, "GET", f"/api/crews/{crew['id']}")
    assert ended["state"] == "ended"
