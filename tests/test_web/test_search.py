"""Search in the browser: the box in the top bar finds a message in another room, and the
result opens that room at the message, with the history around it loaded."""

from __future__ import annotations

from playwright.sync_api import Route, expect

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


async def _save_as(web: WebServer, bot_id: str, house_id: str, room_id: str, text: str) -> str:
    from shoal.store.tables import User
    from shoal.tools.base import ToolScope
    shoal = web.server.shoal
    async with shoal.db.read() as session:
        bot = await session.get(User, bot_id)
    assert bot is not None
    found = await shoal.tools.gather(ToolScope(bot, house_id, room_id))
    tool = next(t for t in found.tools if t.name == "memory_save")
    return await tool.run({"text": text})


def test_the_bot_page_shows_searches_and_forgets_its_memory(new_page, web: WebServer) -> None:
    token, _ = web.register_api()
    house = web.api(token, "POST", "/api/houses", {"name": unique("lab")})
    room = web.api(token, "POST", "/api/agencies", {"name": unique("ops"),
                                                    "houseId": house["id"]})
    bot = web.api(token, "POST", "/api/agents", {"name": unique("Keeper"),
                                                 "agencyId": room["id"]})
    bot_id = bot["agent"]["id"]
    for text in ("Dana likes her reports on Fridays", "The VPN certificate expires in May"):
        web.run(_save_as(web, bot_id, house["id"], room["id"], text))
    page: Page = new_page("/")
    login_with_token(page, token, f"/house/{house['id']}/agents/{bot_id}")
    notes = page.locator("#bot-memory table[aria-label='Memory notes'] .m-note-text")
    expect(notes).to_have_text(["The VPN certificate expires in May",
                                "Dana likes her reports on Fridays"])
    page.fill("#bot-memory input[type=search]", "certificate")
    page.keyboard.press("Enter")
    expect(notes).to_have_text(["The VPN certificate expires in May"])
    page.locator("#bot-memory").scroll_into_view_if_needed()
    screenshot(page, "manage-bot-memory")
    forget = page.locator("#bot-memory button:has-text('Forget')")
    forget.click()
    page.locator("#bot-memory button:has-text('Forget it?')").click()
    expect(page.locator("#bot-memory")).to_contain_text("No note matches.")
    left = web.api(token, "GET", f"/api/agents/{bot_id}/memory")
    assert [n["text"] for n in left["notes"]] == ["Dana likes her reports on Fridays"]


def test_a_room_that_finishes_loading_leaves_the_search_box_its_keys(new_page,
                                                                       web: WebServer) -> None:
    # Someone starts typing a search while the room they opened still loads: when it
    # arrives, the room must not move their cursor to its message box.
    token, _ = web.register_api(display_name="Typist")
    room = web.api(token, "POST", "/api/agencies", {"name": unique("slow")})
    web.post(token, room["id"], "the otter census is tomorrow")
    page: Page = new_page("/")
    held: list[Route] = []
    page.route(f"**/api/agencies/{room['id']}/members", lambda route: held.append(route))
    login_with_token(page, token, f"/rooms/{room['id']}")
    for _ in range(500):  # the room asks for its members once the app is up
        if held:
            break
        page.wait_for_timeout(20)
    assert held, "the room never asked for its members"
    page.fill(".search-box input", "otter census")
    for route in held:
        route.continue_()
    expect(page.locator(".composer-input")).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator(".search-result").first).to_contain_text("the otter census is tomorrow")
