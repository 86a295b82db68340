"""Reactions in the browser: pick an emoji under a message, and another member's window
shows the count grow and shrink live."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.test_web.conftest import Page, WebServer, login_with_token, screenshot
from tests.test_web.test_chat import pair


def test_react_and_see_counts_update_in_another_window(new_page, web: WebServer) -> None:
    token_a, _, token_b, _, room = pair(web, "react")
    message = web.post(token_b, room["id"], "the release is out")
    ada: Page = new_page("/")
    bo: Page = new_page("/")
    login_with_token(ada, token_a, f"/rooms/{room['id']}")
    login_with_token(bo, token_b, f"/rooms/{room['id']}")
    target = f".msg[data-id='{message['id']}']"
    ada.hover(target)
    ada.click(f"{target} .add-reaction")
    ada.click(f"{target} .reaction-picker .pick[data-emoji='🎉']")
    chip = f"{target} .reaction[data-emoji='🎉']"
    expect(ada.locator(chip)).to_have_class("reaction mine")
    expect(bo.locator(f"{chip} .reaction-count")).to_have_text("1")
    expect(bo.locator(chip)).to_have_attribute("aria-pressed", "false")
    # Bo adds his by clicking the chip; both windows count two.
    bo.click(chip)
    expect(ada.locator(f"{chip} .reaction-count")).to_have_text("2")
    expect(bo.locator(chip)).to_have_attribute("aria-pressed", "true")
    screenshot(ada, "reactions")
    # Ada takes hers back: Bo's window shows one again, and only his.
    ada.click(chip)
    expect(bo.locator(f"{chip} .reaction-count")).to_have_text("1")
    assert "Ada" not in (bo.locator(chip).get_attribute("title") or "")
    # A reaction from the API (an agent, say) shows up too.
    web.api(token_b, "POST", f"/api/messages/{message['id']}/reactions", {"emoji": "👀"})
    expect(ada.locator(f"{target} .reaction[data-emoji='👀'] .reaction-count")).to_have_text("1")
