"""Rooms in the browser: live messages between two people, history, reconnects, markdown."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from playwright.sync_api import WebSocketRoute, expect

from shoal.store.tables import User
from tests.support import unique
from tests.test_web.conftest import Page, WebServer, login_with_token, screenshot


def messages_text(page: Page) -> list[str]:
    return page.locator(".timeline .msg .msg-body").all_inner_texts()


def test_two_browsers_see_each_others_messages_live(new_page, web: WebServer) -> None:
    token_a, _ = web.register_api(display_name="Ada")
    token_b, _ = web.register_api(display_name="Bo")
    room = web.api(token_a, "POST", "/api/agencies", {"name": "pair-room"})
    web.api(token_b, "POST", f"/api/agencies/{room['id']}/join")
    ada: Page = new_page("/")
    bo: Page = new_page("/")
    login_with_token(ada, token_a, f"/rooms/{room['id']}")
    login_with_token(bo, token_b, f"/rooms/{room['id']}")
    ada.fill(".composer-input", "hello from **Ada**")
    ada.keyboard.press("Enter")
    bo.wait_for_selector(".msg:has-text('hello from Ada') strong:has-text('Ada')")
    bo.fill(".composer-input", "hi Ada")
    bo.keyboard.press("Enter")
    ada.wait_for_selector(".msg:has-text('hi Ada')")
    screenshot(ada, "room")
    assert messages_text(ada).count("hi Ada") == 1


def pair(web: WebServer, name: str) -> tuple[str, dict, str, dict, dict]:
    """Two people in a fresh room of the default house: (token_a, a, token_b, b, room)."""
    token_a, a = web.register_api(display_name="Ada")
    token_b, b = web.register_api(display_name="Bo")
    room = web.api(token_a, "POST", "/api/agencies", {"name": unique(name)})
    web.api(token_b, "POST", f"/api/agencies/{room['id']}/join")
    return token_a, a, token_b, b, room


def test_a_reload_keeps_the_history(new_page, web: WebServer) -> None:
    token_a, _, token_b, _, room = pair(web, "reload")
    for i in range(3):
        web.post(token_b, room["id"], f"earlier {i}")
    page: Page = new_page("/")
    login_with_token(page, token_a, f"/rooms/{room['id']}")
    page.fill(".composer-input", "my own words")
    page.keyboard.press("Enter")
    page.wait_for_selector(".msg:has-text('my own words')")
    page.reload()
    page.wait_for_selector(".msg:has-text('my own words')")
    assert messages_text(page) == ["earlier 0", "earlier 1", "earlier 2", "my own words"]


def sockets_of(web: WebServer, user_id: str) -> set[str]:
    gateway = web.server.shoal.gateway
    return {s.sid for s in list(gateway.sockets.values()) if s.principal.id == user_id}


def drop_sockets(web: WebServer, user_id: str, poster: dict,
                 while_away: Callable[[User], Coroutine[Any, Any, None]]) -> set[str]:
    """Cut the user's sockets server-side, then let `poster` act while they are away (in the
    same turn of the server's loop, before any reconnect); returns the sockets that were cut."""
    cut = sockets_of(web, user_id)

    async def cut_and_act() -> None:
        for sid in cut:
            await web.server.shoal.gateway.sio.disconnect(sid)
        async with web.server.shoal.db.read() as session:
            author = await session.get(User, poster["id"])
        assert author is not None
        await while_away(author)

    web.run(cut_and_act())
    return cut


def test_a_dropped_connection_recovers_without_losing_or_doubling(new_page,
                                                                  web: WebServer) -> None:
    token_a, a, token_b, b, room = pair(web, "drop")
    page: Page = new_page("/")
    login_with_token(page, token_a, f"/rooms/{room['id']}")
    typo = web.post(token_b, room["id"], "before teh drop")
    hasty = web.post(token_b, room["id"], "said in haste")
    page.wait_for_selector(".msg:has-text('said in haste')")
    chat = web.server.shoal.chat

    async def edit_delete_and_post(author: User) -> None:
        await chat.edit(author, typo["id"], "before the drop")
        await chat.delete(author, hasty["id"])
        for text in ("while away 1", "while away 2"):
            await chat.post(author, room["id"], text)

    cut = drop_sockets(web, a["id"], b, edit_delete_and_post)
    assert cut
    page.wait_for_selector(".msg:has-text('while away 2')")
    # Edits and deletes are not replayed on rejoining: the page asks for them.
    page.wait_for_selector(".msg:has-text('before the drop') .edited")
    page.wait_for_selector(".msg.deleted")
    assert sockets_of(web, a["id"]) and not sockets_of(web, a["id"]) & cut  # a new socket
    web.post(token_b, room["id"], "after the return")
    page.wait_for_selector(".msg:has-text('after the return')")
    assert messages_text(page) == ["before the drop", "This message was deleted.",
                                   "while away 1", "while away 2", "after the return"]
    seqs = page.locator(".timeline .msg").evaluate_all("els => els.map(e => e.dataset.seq)")
    assert len(seqs) == len(set(seqs))


def test_a_message_after_a_long_gap_brings_the_gap_with_it(new_page, web: WebServer) -> None:
    token_a, _, token_b, b, room = pair(web, "gap")
    page: Page = new_page("/")
    sockets: list[WebSocketRoute] = []
    held = False

    def route_socket(ws: WebSocketRoute) -> None:
        if held:
            ws.close()
        else:
            ws.connect_to_server()
            sockets.append(ws)

    # The socket goes through Playwright, so the test can hold it down however often the page
    # retries; the REST API stays up.
    page.route_web_socket("**/socket.io/**", route_socket)
    login_with_token(page, token_a, f"/rooms/{room['id']}")
    web.post(token_b, room["id"], "before the gap")
    page.wait_for_selector(".msg:has-text('before the gap')")
    held = True
    sockets[-1].close()
    page.wait_for_selector(".conn-status.offline")
    post_many(web, b["id"], room["id"], 60)  # more than a page of history
    page.fill(".composer-input", "back again")  # sent over REST: its seq shows the gap
    page.keyboard.press("Enter")
    page.wait_for_selector(".msg:has-text('back again')")
    page.wait_for_selector(".msg:has-text('m60')")
    assert messages_text(page) == ["before the gap", *[f"m{i}" for i in range(1, 61)],
                                   "back again"]
    assert page.locator(".conn-status.offline").is_visible()  # the socket replayed none


def test_markdown_never_runs_a_messages_script(new_page, web: WebServer) -> None:
    token_a, _, token_b, _, room = pair(web, "xss")
    attack = ("<script>window.pwned = 1</script> <img src=x onerror=\"window.pwned = 2\">\n"
              "[click me](javascript:window.pwned=3) and [docs](https://example.org/x)\n"
              "**bold** `<b>code</b>`")
    # A run id from a message's metadata would become a path of the viewer's API calls.
    web.post(token_b, room["id"], "see my run", metadata={
        "run_id": f"../agencies/{web.lobby_id}/members"})
    web.post(token_b, room["id"], attack)
    page: Page = new_page("/")
    login_with_token(page, token_a, f"/rooms/{room['id']}")
    body = page.locator(".msg .msg-body").last
    body.wait_for()
    assert "<script>window.pwned = 1</script>" in body.inner_text()
    assert body.locator("script, img").count() == 0
    assert body.locator("strong").inner_text() == "bold"
    assert body.locator("code").inner_text() == "<b>code</b>"
    links = body.locator("a")
    assert links.count() == 1
    assert links.get_attribute("href") == "https://example.org/x"
    assert "noopener" in (links.get_attribute("rel") or "")
    assert "click me" in body.inner_text()
    page.get_by_text("click me").click()
    assert page.evaluate("window.pwned") is None
    assert page.locator(".msg:has-text('see my run') .run-ref").count() == 0


def test_unread_counts_move_live_and_clear_on_opening(new_page, web: WebServer) -> None:
    token_a, _, token_b, _, room = pair(web, "unread")
    other = web.api(token_a, "POST", "/api/agencies", {"name": unique("quiet")})
    page: Page = new_page("/")
    login_with_token(page, token_a, f"/rooms/{other['id']}")
    link = page.locator(f".sidebar .room-link[data-room-id='{room['id']}']")
    link.wait_for()  # the app knows the room: what is posted from now on is news
    web.post(token_b, room["id"], "one")
    web.post(token_b, room["id"], "two")
    link.locator(".unread-count:has-text('2')").wait_for()
    link.click()
    page.wait_for_selector(".msg:has-text('two')")
    assert link.locator(".unread-count").count() == 0


def test_edits_and_deletes_reach_everyone(new_page, web: WebServer) -> None:
    token_a, _, token_b, _, room = pair(web, "edit")
    ada: Page = new_page("/")
    bo: Page = new_page("/")
    login_with_token(ada, token_a, f"/rooms/{room['id']}")
    login_with_token(bo, token_b, f"/rooms/{room['id']}")
    ada.fill(".composer-input", "frist")
    ada.keyboard.press("Enter")
    bo.wait_for_selector(".msg:has-text('frist')")
    mine = ada.locator(".msg.mine").last
    mine.hover()
    mine.locator("button.edit").click()
    mine.locator("textarea.edit-area").fill("first")
    mine.locator("textarea.edit-area").press("Enter")
    bo.wait_for_selector(".msg:has-text('first') .edited")
    ada.on("dialog", lambda dialog: dialog.accept())
    mine = ada.locator(".msg.mine").last
    mine.hover()
    mine.locator("button.delete").click()
    bo.wait_for_selector(".msg.deleted:has-text('This message was deleted.')")
    assert "first" not in messages_text(bo)


def post_many(web: WebServer, author_id: str, room_id: str, count: int) -> None:
    async def post() -> None:
        async with web.server.shoal.db.read() as session:
            author = await session.get(User, author_id)
        for i in range(1, count + 1):
            await web.server.shoal.chat.post(author, room_id, f"m{i}")

    web.run(post(), timeout=120)


def scroll_until(page: Page, where: str, text: str, tries: int = 40) -> None:
    """Scroll the timeline to its top or bottom, page after page, until `text` shows."""
    edge = 0 if where == "top" else 10**9
    for _ in range(tries):
        if text in messages_text(page):
            return
        ends = page.locator(".timeline .msg").evaluate_all(
            "els => [els[0].dataset.seq, els[els.length - 1].dataset.seq]")
        page.evaluate("top => { document.querySelector('.timeline').scrollTop = top; }", edge)
        # The next page arrived when the window's ends moved.
        page.wait_for_function("""([first, last]) => {
            const els = document.querySelectorAll('.timeline .msg');
            return els[0].dataset.seq !== first || els[els.length - 1].dataset.seq !== last;
        }""", arg=ends)
    raise AssertionError(f"{text} never showed scrolling to the {where}")


def test_history_scrolls_back_with_a_bounded_window(new_page, web: WebServer) -> None:
    token_a, a, _, _, room = pair(web, "long")
    post_many(web, a["id"], room["id"], 420)
    page: Page = new_page("/")
    login_with_token(page, token_a, f"/rooms/{room['id']}")
    page.get_by_text("m420", exact=True).wait_for()
    scroll_until(page, "top", "m1")
    shown = messages_text(page)
    assert shown[:3] == ["m1", "m2", "m3"]
    assert "m420" not in shown and len(shown) <= 200  # the newest end was unloaded
    assert shown == [f"m{i}" for i in range(1, len(shown) + 1)]  # no gap, no double
    page.locator(".jump-latest").wait_for()
    scroll_until(page, "bottom", "m420")
    shown = messages_text(page)
    assert shown[-1] == "m420" and len(shown) <= 200
    first = int(shown[0][1:])
    assert shown == [f"m{i}" for i in range(first, 421)]

    # Messages arriving live, the reader at the bottom, unload the oldest end as they come.
    page.evaluate("document.querySelector('.timeline').scrollTop = 1e9")
    for i in range(421, 461):
        web.post(token_a, room["id"], f"m{i}")
    page.get_by_text("m460", exact=True).wait_for()
    shown = messages_text(page)
    assert shown[-1] == "m460" and len(shown) <= 200
    assert f"m{first}" not in shown
    assert shown == [f"m{i}" for i in range(int(shown[0][1:]), 461)]
    scroll_until(page, "top", f"m{first}")  # and scrolling up loads them back


def test_rich_messages_render_as_the_contract_describes(new_page, web: WebServer) -> None:
    token_a, _, token_b, _, room = pair(web, "rich")
    web.post(token_b, room["id"], "checked the usual places", metadata={
        "trace": [{"step": "/get known-issues", "duration": "12ms", "status": "done"},
                  {"step": "/notes", "duration": "30ms", "status": "error"}],
        "duration": "415ms", "skill": "triage",
        "style": {"sender_color": "#123456", "content_color": "theme-muted"}})
    web.post(token_b, room["id"], "ignored: the spans are the content", metadata={
        "content_spans": [{"text": "All good ", "color": "theme-success"},
                          {"text": "but watch out", "color": "#ff8800"},
                          {"text": " (plain)", "color": "red; background: url(x)"}]})

    async def system() -> None:
        # Heartbeats and hooks post as Shoal itself: only its own posts carry their markers.
        chat = web.server.shoal.chat
        await chat.post_system(room["id"], "time to check in", sender_name="Heartbeat",
                               type="chat", metadata={"heartbeat": True})
        await chat.post_system(room["id"], "build 42 failed", sender_name="ci", type="chat",
                               metadata={"hook": {"id": "h1", "name": "ci"}})
        await chat.post_system(room["id"], "deploy finished", sender_name="CI")

    web.run(system())
    page: Page = new_page("/")
    login_with_token(page, token_a, f"/rooms/{room['id']}")
    page.wait_for_selector(".msg:has-text('deploy finished')")

    traced = page.locator(".msg:has-text('checked the usual places')")
    assert traced.locator(".badge.skill").inner_text() == "triage"
    trace = traced.locator("details.trace")
    assert "2 steps" in trace.inner_text() and "415ms" in trace.inner_text()
    assert not trace.locator(".trace-steps").is_visible()  # collapsed until opened
    trace.locator("summary").click()
    steps = trace.locator(".step")
    assert steps.count() == 2 and "30ms" in steps.nth(1).inner_text()
    assert "status-error" in (steps.nth(1).get_attribute("class") or "")
    assert traced.locator(".author").evaluate("e => e.style.color") == "rgb(18, 52, 86)"
    assert traced.locator(".msg-body").evaluate("e => e.style.color") == "var(--muted)"

    spans = page.locator(".msg .spans span")
    assert spans.all_inner_texts() == ["All good ", "but watch out", " (plain)"]
    assert spans.evaluate_all("els => els.map(e => e.style.color)") == [
        "var(--success)", "rgb(255, 136, 0)", ""]
    assert page.locator(".msg.heartbeat:has-text('time to check in') .badge.heartbeat").count()
    assert "hook: ci" in page.locator(".msg.hook:has-text('build 42')").inner_text()
    system_msg = page.locator(".msg.system:has-text('deploy finished')")
    assert system_msg.locator(".author").inner_text() == "CI"

    page.fill(".composer-input", "/help")
    page.keyboard.press("Escape")  # close the command suggestions
    page.keyboard.press("Enter")
    ephemeral = page.locator(".msg.ephemeral")
    ephemeral.wait_for()
    assert "only you can see this" in ephemeral.inner_text()
    assert "/roll" in ephemeral.inner_text()
    screenshot(page, "rich-messages")
    page.click(".theme-toggle")
    theme = page.evaluate("document.documentElement.dataset.theme")
    screenshot(page, f"rich-messages-{theme}")
    page.reload()
    page.wait_for_selector(".msg:has-text('deploy finished')")
    assert page.evaluate("document.documentElement.dataset.theme") == theme


# Whether the composer's placeholder fits on one line of the composer.
PLACEHOLDER_FITS = """() => {
  const area = document.querySelector('.composer-input');
  const style = getComputedStyle(area);
  const text = document.createElement('canvas').getContext('2d');
  text.font = style.font;
  const room = area.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return text.measureText(area.placeholder).width <= room;
}"""


def test_on_a_phone_the_sidebar_collapses(new_page, web: WebServer) -> None:
    token_a, _, _, _, room = pair(web, "phone")
    page: Page = new_page("/", width=390, height=760)
    login_with_token(page, token_a, f"/rooms/{room['id']}")
    sidebar = page.locator(".sidebar")
    page.wait_for_selector(".composer-input")
    box = sidebar.bounding_box()
    assert box is None or box["x"] + box["width"] <= 1  # slid out of view
    assert page.locator(".timeline-empty").inner_text() == "No messages yet. Say hello!"
    assert page.evaluate(PLACEHOLDER_FITS), "the composer's placeholder wraps"
    screenshot(page, "phone-room")
    page.fill(".composer-input", "hello")
    page.keyboard.press("Enter")
    page.wait_for_selector(".msg:has-text('hello')")
    assert not page.locator(".timeline-empty").is_visible()
    page.click(".menu-toggle")
    page.wait_for_function(
        "() => document.querySelector('.sidebar').getBoundingClientRect().x >= 0")
    screenshot(page, "phone-sidebar")
    sidebar.locator(".room-link:has-text('lobby')").click()
    page.wait_for_selector(".room-header h2:has-text('lobby')")
    page.wait_for_function(
        "() => document.querySelector('.sidebar').getBoundingClientRect().right <= 1")


def test_on_a_phone_a_message_shows_its_actions_only_when_asked(new_page,
                                                               web: WebServer) -> None:
    token_a, _, _, _, room = pair(web, "tap")
    for text in ("one", "two", "three"):
        web.post(token_a, room["id"], text)
    page: Page = new_page("/", width=390, height=760)
    login_with_token(page, token_a, f"/rooms/{room['id']}")
    page.wait_for_selector(".msg:has-text('three')")
    assert page.locator(".msg button.edit:visible, .msg button.delete:visible").count() == 0
    two = page.locator(".msg.mine:has-text('two')").get_attribute("data-id")
    mine = page.locator(f".msg[data-id='{two}']")
    mine.locator("button.msg-more").click()
    expect(mine.locator("button.edit")).to_be_visible()
    expect(mine.locator("button.delete")).to_be_visible()
    assert page.locator(".msg button.edit:visible").count() == 1  # that message's only
    screenshot(page, "phone-message-actions")
    mine.locator("button.edit").click()
    mine.locator("textarea.edit-area").fill("two, edited")
    mine.locator("textarea.edit-area").press("Enter")
    page.wait_for_selector(".msg:has-text('two, edited') .edited")


def test_slash_completion_shows_usage_and_runs_the_command(new_page, web: WebServer) -> None:
    token_a, _, _, _, room = pair(web, "slash")
    page: Page = new_page("/")
    login_with_token(page, token_a, f"/rooms/{room['id']}")
    page.locator(".composer-input").press_sequentially("/ro")
    option = page.locator(".suggestions .suggestion.command").first
    option.wait_for()
    assert option.locator(".suggestion-label").inner_text() == "/roll <dice>"
    assert "dice" in option.locator(".suggestion-detail").inner_text().lower()
    page.keyboard.press("Tab")
    assert page.input_value(".composer-input") == "/roll "
    page.locator(".composer-input").press_sequentially("2d6")
    page.keyboard.press("Enter")
    page.wait_for_selector(".msg.system:has-text('2d6')")
    page.locator(".composer-input").press_sequentially("/nosuchthing")
    page.keyboard.press("Enter")
    page.wait_for_selector(".composer-error:has-text('nosuchthing')")


def test_create_a_room_and_message_a_member_directly(new_page, web: WebServer) -> None:
    token_a, _, token_b, b, room = pair(web, "dm")
    ada: Page = new_page("/")
    bo: Page = new_page("/")
    login_with_token(ada, token_a, f"/rooms/{room['id']}")
    login_with_token(bo, token_b, f"/rooms/{room['id']}")
    name = unique("made")
    ada.click(".side-heading button[aria-label='New room']")
    ada.fill(".new-room input[name=name]", name)
    ada.click(".new-room button[type=submit]")
    ada.wait_for_selector(f".room-header h2:has-text('{name}')")
    assert ada.locator(f".sidebar .room-link.active:has-text('{name}')").count() == 1

    ada.goto(f"/rooms/{room['id']}")
    member = ada.locator(f".members .member[data-user-id='{b['id']}']")
    member.locator(".presence").wait_for()
    assert "online" in (member.get_attribute("class") or "")
    member.hover()
    member.locator("button.dm").click()
    ada.wait_for_selector(".room-header h2:has-text('@ Bo')")
    ada.fill(".composer-input", "just between us")
    ada.keyboard.press("Enter")
    # Bo's sidebar learns of the DM live, with its unread message.
    dm_link = bo.locator(".sidebar .room-link:has-text('@ Ada')")
    dm_link.locator(".unread-count:has-text('1')").wait_for()
    dm_link.click()
    bo.wait_for_selector(".msg:has-text('just between us')")
    bo.close()
    ada.goto(f"/rooms/{room['id']}")
    ada.wait_for_selector(f".members .member[data-user-id='{b['id']}']:not(.online)")


def test_the_sidebar_switches_between_houses(new_page, web: WebServer) -> None:
    token, _ = web.register_api(display_name="Hopper")
    house = web.api(token, "POST", "/api/houses", {"name": unique("Annex")})
    annex_room = web.api(token, "POST", "/api/agencies",
                         {"name": "annex-talk", "houseId": house["id"]})
    page: Page = new_page("/")
    login_with_token(page, token, f"/rooms/{web.lobby_id}")
    switch = page.locator(".sidebar select.house-switch")
    switch.select_option(house["id"])
    page.wait_for_selector(".room-header h2:has-text('annex-talk')")
    assert f"/rooms/{annex_room['id']}" in page.url
    assert page.locator(".sidebar .room-link:has-text('lobby')").count() == 0
    assert page.locator(f".sidebar a[href='/house/{house['id']}/agents']").count() == 1
