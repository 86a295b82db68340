"""The bot page's Tools section in a browser: the tools the bot is offered in the house, and
each one left out with the layer and rule that removed it."""

from __future__ import annotations

from tests.support import unique
from tests.test_web.conftest import Page, WebServer, login_with_token, screenshot


def test_the_bot_page_shows_offered_tools_and_why_others_are_left_out(
        new_page, web: WebServer) -> None:
    token, _ = web.register_api()
    house = web.api(token, "POST", "/api/houses", {"name": unique("lab")})
    bot = web.api(token, "POST", "/api/agents", {"name": unique("Tidy"), "houseId": house["id"]})
    bot_id = bot["agent"]["id"]
    web.api(token, "PATCH", f"/api/houses/{house['id']}/settings",
            {"tools": {"deny": ["group:rooms"], "approval": ["save"]}})
    web.api(token, "PATCH", f"/api/agents/{bot_id}/config", {"tools": {"deny": ["roll"]}})
    page: Page = new_page("/")
    login_with_token(page, token, f"/house/{house['id']}/agents/{bot_id}")
    offered = page.locator("#bot-tools table[aria-label='Offered tools']")
    offered.wait_for()
    save = offered.locator("tr:has(code:text-is('save'))")
    assert "commands, notes" in save.inner_text()
    assert "asks first (house: approval save)" in save.inner_text()
    assert offered.locator("code:text-is('roll')").count() == 0
    left_out = page.locator("#bot-tools table[aria-label='Tools left out']")
    assert [c.strip() for c in left_out.locator("tr:has(code:text-is('roll')) td")
            .all_inner_texts()] == ["roll", "agent", "deny roll"]
    assert [c.strip() for c in left_out.locator("tr:has(code:text-is('who')) td")
            .all_inner_texts()] == ["who", "house", "deny group:rooms"]
    page.locator("#bot-tools").scroll_into_view_if_needed()
    screenshot(page, "manage-bot-tools")
