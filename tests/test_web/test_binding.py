"""A room's binding in the browser: room admins bind and unbind it from the room's header,
everyone in the room sees who answers there, and the bound agent answers unmentioned."""

from __future__ import annotations

from tests.support import unique
from tests.test_web.conftest import Page, WebServer, login_with_token, screenshot


def test_an_admin_binds_the_room_from_its_header(new_page, web: WebServer) -> None:
    owner_token = web.owner_token()
    room = web.api(owner_token, "POST", "/api/agencies", {"name": unique("support")})
    member_token, _ = web.register_api(display_name="Bo")
    web.api(member_token, "POST", f"/api/agencies/{room['id']}/join")
    admin: Page = new_page("/")
    member: Page = new_page("/")
    login_with_token(admin, owner_token, f"/rooms/{room['id']}")
    login_with_token(member, member_token, f"/rooms/{room['id']}")
    member.wait_for_selector(".room-header .room-binding", state="attached")
    assert member.locator(".room-header button.bind").count() == 0  # members may not bind

    admin.click(".room-header button.bind:has-text('Bind agent')")
    admin.select_option(".binding-form select[name=agent]", label=f"@{web.helper}")
    admin.click(".binding-form button[type=submit]")
    admin.wait_for_selector(f".room-header .binding-label:has-text('Bound to @{web.helper}')")
    # Everyone in the room sees it at once.
    member.wait_for_selector(f".room-header .binding-label:has-text('Bound to @{web.helper}')")
    screenshot(admin, "room-bound")

    # The bound agent answers a message that mentions no one.
    member.fill(".composer-input", "how do I reset my password?")
    member.keyboard.press("Enter")
    member.wait_for_selector(f".msg.agent:has(.handle:has-text('@{web.helper}'))")

    admin.click(".room-header button.unbind")
    admin.wait_for_selector(".room-header button.bind:has-text('Bind agent')")
    member.wait_for_selector(".room-header .binding-label", state="detached")
    assert web.api(member_token, "GET", f"/api/agencies/{room['id']}")["binding"] is None
