"""Rooms in the browser: live messages between two people, history, reconnects, markdown."""

from __future__ import annotations

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
