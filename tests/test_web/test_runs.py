"""Live runs in the browser: a builtin agent's run streams, asks permission, is approved by the
person who started it, replies, and its transcript replays step by step."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.support import unique
from tests.test_web.conftest import Page, WebServer, login_with_token, register, screenshot
from tests.test_web.test_chat import post_many, scroll_until

# Records whether the streamed text (with its cursor) was ever on screen, however briefly.
WATCH_STREAM = """() => {
  window.sawStream = false;
  window.sawThinking = [];
  new MutationObserver(() => {
    if (document.querySelector('.run-stream:not([hidden]) .cursor')) window.sawStream = true;
    for (const el of document.querySelectorAll('.thinking-item')) {
      if (!window.sawThinking.includes(el.textContent)) window.sawThinking.push(el.textContent);
    }
  }).observe(document.body, {childList: true, subtree: true, attributes: true});
}"""


def gated_bot(web: WebServer, tools: list[str], room_id: str | None = None) -> dict[str, Any]:
    """A verified builtin bot in a room (the lobby unless told) on the offline model, whose
    `tools` need approval."""
    owner = web.owner_token()
    agent = web.api(owner, "POST", "/api/agents",
                    {"name": unique("Gate"), "agencyId": room_id or web.lobby_id})["agent"]
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

    me = page.locator(".msg.mine .handle").last.inner_text()  # "@newcomer" or so
    card.locator(f".permission.approve:has-text('Approved by {me}')").wait_for()
    card.locator(".tool-card.status-done").wait_for()
    card.locator(".run-outcome:has-text('Completed')").wait_for()
    reply = page.locator(f".msg.agent:has(.handle:has-text('@{bot['username']}'))").last
    reply.wait_for()
    assert "The /notes command returned" in reply.inner_text()
    assert page.evaluate("window.sawStream") is True
    thinking = page.evaluate("window.sawThinking")
    assert any(t.startswith(f"@{bot['username']} is") for t in thinking), thinking
    screenshot(page, "run-completed")

    card.locator("a.run-link").click()
    page.wait_for_selector(".transcript h2:has-text('Run of @')")
    steps = page.locator(".event-list .event")
    types = steps.locator(".event-type").all_inner_texts()
    assert types[0] == "start" and types[-1] == "complete"
    assert {"tool-call", "permission-request", "permission-response", "tool-result",
            "stream-end"} <= set(types)
    decision = steps.nth(types.index("permission-response")).locator(".event-summary")
    assert decision.inner_text() == f"approve by {me}"
    page.click(".replay-controls button.first")
    assert page.locator(".replay-card .tool-card").count() == 0
    for _ in range(types.index("tool-call") + 1):
        page.click(".replay-controls button.next")
    assert page.locator(".replay-card .tool-card").count() == 1
    assert page.locator(".replay-card .permission").count() == 0
    assert "step" in page.inner_text(".replay-position")
    page.click(".replay-controls button.last")
    page.wait_for_selector(".replay-card .run-outcome:has-text('Completed')")
    assert "The /notes command returned" in page.inner_text(".replay-card .run-stream")
    screenshot(page, "run-transcript")


def test_stop_and_redirect_from_the_run_card(new_page, web: WebServer) -> None:
    bot = gated_bot(web, ["notes"])
    page: Page = new_page("/")
    register(page)
    page.wait_for_selector(".room-header h2:has-text('lobby')")
    page.fill(".composer-input", f"@{bot['username']} please run /notes")
    page.keyboard.press("Enter")
    card = page.locator(".run-card").last
    card.locator(".permission.pending").wait_for()
    card.locator(".redirect-input").fill("roll a die instead")
    card.locator("button.redirect").click()
    card.locator(".run-interrupt:has-text('redirected')").wait_for()
    assert "roll a die instead" in card.locator(".run-interrupt").inner_text()
    card.locator("button.stop").click()
    card.locator(".run-interrupt:has-text('asked to stop')").wait_for()
    card.locator("button.deny").click()
    card.locator(".permission.deny:has-text('Denied')").wait_for()
    card.locator(".run-outcome:has-text('Stopped')").wait_for()
    outcome = card.locator(".run-outcome").inner_text()
    assert outcome.lower().count("stop") == 1, outcome  # said once, not "Stopped · stopped"
    assert card.locator(".run-controls button.stop").count() == 0  # an ended run has none
    screenshot(page, "run-stopped")


def test_others_see_who_may_decide(new_page, web: WebServer) -> None:
    bot = gated_bot(web, ["notes"])
    asker_token, _ = web.register_api(display_name="Asker")
    watcher_token, _ = web.register_api(display_name="Watcher")
    watcher: Page = new_page("/")
    login_with_token(watcher, watcher_token, f"/rooms/{web.lobby_id}")
    asked = web.post(asker_token, web.lobby_id, f"@{bot['username']} /notes please")
    card = watcher.locator(".run-card").last
    card.locator(".permission.pending").wait_for()
    assert card.locator("button.approve").count() == 0
    waiting = card.locator(".permission-waiting").inner_text()
    assert waiting == f"Waiting for @{asked['sender_handle']} to decide."
    run_id = card.get_attribute("data-run-id")
    pending = [e for e in web.api(asker_token, "GET", f"/api/runs/{run_id}")["transcript"]
               if e["type"] == "permission-request"]
    web.api(asker_token, "POST", f"/api/runs/{run_id}/permissions/"
            f"{pending[0]['permissionId']}", {"decision": "approve"})
    # Named as the room names people: by their handle, not their account's username.
    card.locator(f".permission.approve:has-text('Approved by @{asked['sender_handle']}')"
                 ).wait_for()
    card.locator(".run-outcome:has-text('Completed')").wait_for()


def test_a_live_run_card_keeps_its_clock_after_scrolling_away(new_page, web: WebServer) -> None:
    room = web.api(web.owner_token(), "POST", "/api/agencies", {"name": unique("busy")})
    bot = gated_bot(web, ["notes"], room["id"])
    token, user = web.register_api()
    web.api(token, "POST", f"/api/agencies/{room['id']}/join")
    page: Page = new_page("/")
    login_with_token(page, token, f"/rooms/{room['id']}")
    ask = f"@{bot['username']} please run /notes"
    page.fill(".composer-input", ask)
    page.keyboard.press("Enter")
    card = page.locator(".run-card")
    card.locator(".permission.pending").wait_for()  # the run waits: it stays live

    page.evaluate("document.querySelector('.timeline').scrollTop = 1e9")
    post_many(web, user["id"], room["id"], 220)  # the window moves past the card
    page.get_by_text("m220", exact=True).wait_for()
    expect(card).to_have_count(0)
    page.wait_for_timeout(1500)  # unloaded past a tick: its clock stops itself
    scroll_until(page, "top", ask)
    card.locator(".permission.pending").wait_for()
    elapsed = card.locator(".run-elapsed").inner_text()
    page.wait_for_function(
        "shown => document.querySelector('.run-card .run-elapsed').textContent !== shown",
        arg=elapsed)


IN_VIEW = """el => {
  const view = document.querySelector('.timeline').getBoundingClientRect();
  const box = el.getBoundingClientRect();
  return box.top >= view.top - 1 && box.bottom <= view.bottom + 1;
}"""
NEXT_FRAME = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"


def busy_room(web: WebServer, gated: list[str]) -> tuple[dict[str, Any], dict[str, Any], str,
                                                          dict[str, Any]]:
    """A room with a page of history, a bot whose `gated` tools need approval, and a person
    in it: (room, bot, token, person)."""
    room = web.api(web.owner_token(), "POST", "/api/agencies", {"name": unique("follow")})
    bot = gated_bot(web, gated, room["id"])
    token, user = web.register_api()
    web.api(token, "POST", f"/api/agencies/{room['id']}/join")
    post_many(web, user["id"], room["id"], 40)
    return room, bot, token, user


def test_a_reader_at_the_bottom_sees_the_run_card_grow(new_page, web: WebServer) -> None:
    room, bot, token, _ = busy_room(web, ["notes"])
    page: Page = new_page("/")
    login_with_token(page, token, f"/rooms/{room['id']}")
    page.get_by_text("m40", exact=True).wait_for()
    page.fill(".composer-input", f"@{bot['username']} please run /notes")
    page.keyboard.press("Enter")
    card = page.locator(".run-card").last
    approve = card.locator(".permission.pending button.approve")
    approve.wait_for()
    # The card grew after it was placed: the timeline followed it down to its buttons.
    page.wait_for_function(IN_VIEW, arg=approve.element_handle())
    screenshot(page, "run-permission-in-view")
    approve.click()
    reply = page.locator(f".msg.agent:has(.handle:has-text('@{bot['username']}'))").last
    reply.wait_for()
    page.evaluate(NEXT_FRAME)
    # Unfolding a finished run's steps keeps a reader at the bottom at the bottom too.
    reply.locator(".run-ref button:has-text('show steps')").click()
    outcome = reply.locator(".run-card .run-outcome")
    outcome.wait_for()
    page.wait_for_function(IN_VIEW, arg=outcome.element_handle())


def test_a_reader_scrolled_up_is_told_a_card_grew_below(new_page, web: WebServer) -> None:
    room, bot, token, _ = busy_room(web, ["notes"])
    asker_token, _ = web.register_api()
    web.api(asker_token, "POST", f"/api/agencies/{room['id']}/join")
    page: Page = new_page("/")
    login_with_token(page, token, f"/rooms/{room['id']}")
    page.get_by_text("m40", exact=True).wait_for()
    web.post(asker_token, room["id"], f"@{bot['username']} /notes please")
    card = page.locator(".run-card").last
    card.locator(".permission-waiting").wait_for()
    page.evaluate("document.querySelector('.timeline').scrollTop -= 400")
    page.evaluate(NEXT_FRAME)
    jump = page.locator(".jump-latest")
    expect(jump).to_be_hidden()

    web.api(asker_token, "POST", f"/api/runs/{card.get_attribute('data-run-id')}/interrupt",
            {"action": "adjust", "message": "look at the logs too"})
    redirect = card.locator(".run-interrupt")
    redirect.wait_for()
    expect(jump).to_have_text("New below ↓")
    assert not redirect.evaluate(IN_VIEW), "the view jumped while the reader was up"
    jump.click()
    page.wait_for_function(IN_VIEW, arg=redirect.element_handle())
    expect(jump).to_be_hidden()


# Records every reasoning section the page showed while it was still growing, and whether
# any of them was open (it should stay folded unless the reader opens it).
