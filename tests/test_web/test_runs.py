"""Live runs in the browser: a builtin agent's run streams, asks permission, is approved by the
person who started it, replies, and its transcript replays step by step."""

from __future__ import annotations

from typing import Any

from tests.support import unique
from tests.test_web.conftest import Page, WebServer, register, screenshot

# Records whether the streamed text (with its cursor) was ever on screen, however briefly.
WATCH_STREAM = """() => {
  window.sawStream = false;
  new MutationObserver(() => {
    if (document.querySelector('.run-stream:not([hidden]) .cursor')) window.sawStream = true;
  }).observe(document.body, {childList: true, subtree: true, attributes: true});
}"""


def gated_bot(web: WebServer, tools: list[str]) -> dict[str, Any]:
    """A verified builtin bot in the lobby on the offline model, whose `tools` need approval."""
    owner = web.owner_token()
    agent = web.api(owner, "POST", "/api/agents",
                    {"name": unique("Gate"), "agencyId": web.lobby_id})["agent"]
    web.api(owner, "POST", f"/api/agents/{agent['id']}/verify")
    web.api(owner, "PATCH", f"/api/agents/{agent['id']}/config", {
        "runtime": "builtin", "model": {"primary": "offline", "fallbacks": []},
        "tools": {"allow": ["*"], "approval": tools}})
    return dict(agent)


def test_a_newcomer_watches_approves_and_replays_a_run(new_page, web: WebServer) -> None:
    bot = gated_bot(web, ["notes"])
    page: Page = new_page("/")
    register(page, display_name="Newcomer")
    page.wait_for_selector(".room-header h2:has-text('lobby')")
    page.evaluate(WATCH_STREAM)

    page.fill(".composer-input", f"@{bot['username'][:3]}")
    page.wait_for_selector(f".suggestions .suggestion:has-text('@{bot['username']}')")
    page.keyboard.press("Enter")  # completes the handle
    page.type(".composer-input", "what do you know? /notes")
    assert page.input_value(".composer-input").startswith(f"@{bot['username']} ")
    page.keyboard.press("Enter")

    card = page.locator(".run-card").last
    card.locator(".tool-card .tool-name:has-text('notes')").wait_for()
    request = card.locator(".permission.pending")
    request.wait_for()
    assert "asks to /notes" in request.inner_text()
    screenshot(page, "run-permission")
    request.locator("button.approve").click()

    card.locator(".permission.approve:has-text('Approved by @')").wait_for()
    card.locator(".tool-card.status-done").wait_for()
    card.locator(".run-outcome:has-text('Completed')").wait_for()
    reply = page.locator(f".msg.agent:has(.handle:has-text('@{bot['username']}'))").last
    reply.wait_for()
    assert "The /notes command returned" in reply.inner_text()
    assert page.evaluate("window.sawStream") is True
    screenshot(page, "run-completed")

    card.locator("a.run-link").click()
    page.wait_for_selector(".transcript h2:has-text('Run of @')")
    steps = page.locator(".event-list .event")
    types = steps.locator(".event-type").all_inner_texts()
    assert types[0] == "start" and types[-1] == "complete"
    assert {"tool-call", "permission-request", "permission-response", "tool-result",
            "stream-end"} <= set(types)
    page.click(".replay-controls button.first")
    assert page.locator(".replay-card .tool-card").count() == 0
    for _ in range(types.index("tool-call") + 1):
        page.click(".replay-controls button.next")
    assert page.locator(".replay-card .tool-card").count() == 1
    assert page.locator(".replay-card .permission").count() == 0
    assert "step" in page.inner_text(".replay-position")
    page.click(".replay-controls button.last")
    page.wait_for_selector(".replay-card .run-outcome:has-text('Completed')")
    screenshot(page, "run-transcript")
