"""Search in the browser: the box in the top bar finds a message in another room, and the
result opens that room at the message, with the history around it loaded."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.support import unique
from tests.test_web.conftest import Page, WebServer, login_with_token, screenshot


def test_a_result_opens_its_room_at_the_message(new_page, web: WebServer) -> None:
    token, _ = web.register_api(display_name="Seeker")
    room = web.api(token, "POST", "/api/agencies", {"name": unique("archive")})
    elsewhere = web.api(token, "POST", "/api/agencies", {"name": unique("elsewhere")})
    for i in range(120):
        text = ("the quetzal migration starts at dawn" if i == 30
                else f"ordinary chatter line {i}")
        web.post(token, room["id"], text)
    page: Page = new_page("/")
    login_with_token(page, token, f"/rooms/{elsewhere['id']}")
    page.fill(".search-box input", "quetzal migration")
    page.keyboard.press("Enter")
    result = page.locator(".search-result").first
    expect(result).to_contain_text("the quetzal migration starts at dawn")
    expect(result).to_contain_text("Seeker")
    expect(result.locator("mark")).to_have_text(["quetzal", "migration"])
    screenshot(page, "search-results")
    result.locator("a").click()
    hit = page.locator(".msg.search-hit")
    expect(hit).to_contain_text("the quetzal migration starts at dawn")
    expect(hit).to_be_in_viewport()
    assert f"/rooms/{room['id']}" in page.url
    # The history around it is loaded, not the newest page (which would end at line 119).
    bodies = page.locator(".timeline .msg .msg-body").all_inner_texts()
    assert "ordinary chatter line 29" in bodies and "ordinary chatter line 31" in bodies
    assert "ordinary chatter line 119" not in bodies
    screenshot(page, "search-jump")
