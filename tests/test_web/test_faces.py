"""Faces in the browser: avatars beside messages and in the member list, drawn or uploaded,
and a bot's emoji beside its name."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import expect

from tests.support import unique
from tests.test_web.conftest import Page, WebServer, login_with_token, screenshot
from tests.test_web.test_attachments import png
from tests.test_web.test_chat import pair


def test_avatars_and_a_bots_emoji_show_in_messages_and_members(new_page,
                                                                web: WebServer) -> None:
    token_a, a, token_b, b, room = pair(web, "faces")
    r = httpx.put(f"{web.url}/api/me/avatar", headers={"Authorization": f"Bearer {token_a}"},
                  files={"file": ("me.png", png(32, 32), "image/png")})
    assert r.status_code == 200, r.text
    bot = web.api(token_b, "POST", "/api/agents", {"name": unique("Crab "),
                                                   "agencyId": room["id"]})["agent"]
    web.api(token_b, "POST", f"/api/agents/{bot['id']}/verify")
    web.api(token_b, "PATCH", f"/api/agents/{bot['id']}/config", {"identity": {"emoji": "🦀"}})
    web.post(token_a, room["id"], "with my face")
    web.post(token_b, room["id"], "with a drawn face")
    page: Page = new_page("/")
    login_with_token(page, token_b, f"/rooms/{room['id']}")
    uploaded = page.locator(".msg:has-text('with my face') .msg-head img.avatar")
    page.wait_for_function("img => img.complete && img.naturalWidth === 32",
                           arg=uploaded.element_handle())
    drawn = page.locator(".msg:has-text('with a drawn face') .msg-head img.avatar")
    page.wait_for_function("img => img.complete && img.naturalWidth === 64",  # the SVG's size
                           arg=drawn.element_handle())
    member = page.locator(f".member[data-user-id='{bot['id']}']")
    expect(member.locator(".bot-emoji")).to_have_text("🦀")
    expect(member.locator("img.avatar")).to_have_attribute("src", re.compile("^blob:"))
    screenshot(page, "faces")


def test_the_bot_page_sets_its_emoji_thinking_and_image_model(new_page, web: WebServer) -> None:
    token, _ = web.register_api()
    bot = web.api(token, "POST", "/api/agents", {"name": unique("Seer ")})["agent"]
    page: Page = new_page("/")
    login_with_token(page, token, f"/house/{web.home_id}/agents/{bot['id']}")
    form = page.locator("form[aria-label='Bot settings']")
    form.locator("input[name=emoji]").fill("🔭")
    form.locator("select[name=thinking]").select_option("high")
    form.locator("select[name=image_model]").select_option("offline/shoal-offline")
    form.locator("button[type=submit]").click()
    page.wait_for_selector(".m-status.m-ok:has-text('Saved')")
    config = web.api(token, "GET", f"/api/agents/{bot['id']}/config")["config"]
    assert config["identity"] == {"emoji": "🔭"} and config["thinking"] == "high"
    assert config["image_model"] == {"primary": "offline/shoal-offline", "fallbacks": []}
    # A bad emoji is refused with the server's sentence.
    form.locator("input[name=emoji]").fill("telescope")
    form.locator("button[type=submit]").click()
    page.wait_for_selector(".m-status:has-text('not one emoji')")


def test_a_person_changes_their_avatar_from_the_top_bar(new_page, web: WebServer) -> None:
    token, user = web.register_api()
    page: Page = new_page("/")
    login_with_token(page, token, "/")
    page.set_input_files(".topbar .avatar-input", files=[
        {"name": "me.png", "mimeType": "image/png", "buffer": png(40, 40)}])
    page.wait_for_function("() => { const img = document.querySelector('.topbar .me-face img');"
                           " return img && img.complete && img.naturalWidth === 40; }")
    room = web.api(token, "POST", "/api/agencies", {"name": unique("mine")})
    message = web.post(token, room["id"], "hello")
    assert "?v=" in message["sender_avatar_url"]
