"""A sub-agent's run in the browser: shown inside the run of the agent that spawned it, with
its answer, while the parent's reply (hearing the child) comes to the room; the room lists
its sub-agents beside its members."""

from __future__ import annotations

from tests.support import unique
from tests.test_web.conftest import Page, WebServer, register, screenshot


def test_a_childs_run_shows_inside_its_parents_run(new_page, web: WebServer) -> None:
    owner = web.owner_token()
    agent = web.api(owner, "POST", "/api/agents",
                    {"name": unique("Lead"), "agencyId": web.lobby_id})["agent"]
    web.api(owner, "POST", f"/api/agents/{agent['id']}/verify")
    web.api(owner, "PATCH", f"/api/agents/{agent['id']}/config", {
        "runtime": "builtin", "model": {"primary": "offline", "fallbacks": []}})
    page: Page = new_page("/")
    register(page)
    page.wait_for_selector(".room-header h2:has-text('lobby')")
    page.fill(".composer-input", f"@{agent['username']} /sessions_spawn count the apples")
    page.keyboard.press("Enter")

    parent = page.locator(".run-card:not(.run-child)").last
    parent.locator(".tool-card .tool-name:has-text('sessions_spawn')").wait_for()
    child = parent.locator(".run-children .run-card.run-child")
    child.wait_for()
    assert "sub-agent" in child.locator(".run-subagent").inner_text()
    child.locator(".run-outcome:has-text('Completed')").wait_for()
    assert "count the apples" in child.locator(".run-stream").inner_text()
    reply = page.locator(f".msg.agent:has(.handle:has-text('@{agent['username']}'))").last
    reply.locator("text=sessions_wait").wait_for()
    assert "completed its task" in reply.inner_text()
    listed = page.locator(".subagent-list li.subagent")
    listed.locator(".subagent-state:has-text('completed')").wait_for()
    assert "count the apples" in listed.inner_text()
    assert f"@{agent['username']}" in listed.inner_text()
    screenshot(page, "subagent-run")
