"""The app loads, people register and log in, and the demo's owner gets in on first run."""

from __future__ import annotations

from tests.test_web.conftest import Page, WebServer, login, register, screenshot


def test_a_visitor_is_sent_to_the_login(new_page, web: WebServer) -> None:
    page: Page = new_page("/")
    page.wait_for_selector("form.auth-form")
    assert page.url.endswith("/login")
    screenshot(page, "login")


def test_the_demo_owner_logs_in_and_lands_in_the_lobby(new_page, web: WebServer) -> None:
    page: Page = new_page("/login")
    login(page, web.owner_username, web.owner_password)
    page.wait_for_selector(".room-header h2:has-text('lobby')")
    assert f"/rooms/{web.lobby_id}" in page.url
    assert page.locator(".sidebar .room-link.active").inner_text().startswith("# lobby")


def test_a_wrong_password_says_so(new_page, web: WebServer) -> None:
    page: Page = new_page("/login")
    page.fill("input[name=username]", web.owner_username)
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    page.wait_for_selector(".form-error:has-text('wrong username or password')")


def test_register_then_log_out_and_back_in(new_page, web: WebServer) -> None:
    page: Page = new_page("/")
    username = register(page)
    page.wait_for_selector(".room-header h2:has-text('lobby')")
    page.click("button.logout")
    page.wait_for_selector("form.auth-form")
    assert page.evaluate("localStorage.getItem('shoal.token')") is None
    login(page, username)
    page.wait_for_selector(".room-header h2:has-text('lobby')")
