"""The management pages in a browser: a bot created and edited through the pages, its token
shown once and working, woken in a room and its activation logged, and the house settings."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.support import unique
from tests.test_web.conftest import Page, WebServer, login_with_token, register, screenshot


def agent_login(web: WebServer, token: str) -> int:
    """The status POST /api/auth/agent answers for a bot token."""
    return web.http.post("/api/auth/agent", json={"agentToken": token}).status_code


def page_screenshot(page: Page, name: str) -> None:
    """A screenshot of the whole management page: the app scrolls its main pane, not the
    document, so the viewport grows to the page's height for the picture."""
    size = page.viewport_size or {"width": 1280, "height": 800}
    height = page.evaluate("document.querySelector('.manage').scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": min(int(height) + 120, 8000)})
    screenshot(page, name)
    page.set_viewport_size(size)


def shown_secret(page: Page, title: str) -> str:
    box = page.locator(f".m-secret[aria-label^='{title}']").last
    box.wait_for()
    assert box.locator("button.m-copy").is_visible()
    return box.locator("input.m-secret-value").input_value()


def test_a_bot_is_created_and_edited_through_the_pages(new_page, web: WebServer) -> None:
    page: Page = new_page("/")
    username = register(page)
    token = page.evaluate("localStorage.getItem('shoal.token')")
    name = f"Scout {unique('')}"
    page.goto(f"/house/{web.home_id}/agents")
    page.wait_for_selector("table[aria-label='House registry']")
    assert page.locator(f"table[aria-label='House registry'] tr:has-text('@{username}')"
                        ).is_visible()

    create = page.locator("form[aria-label='Create a bot']")
    create.locator("input[name=name]").fill(name)
    create.locator("select[name=runtime]").select_option("sdk")
    create.locator("input[name=description]").fill("finds things")
    create.locator("button[type=submit]").click()
    agent_token = shown_secret(page, "Agent token for")
    assert agent_token.startswith("shb_")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.click(".m-secret button.m-copy")
    page.wait_for_selector(".m-secret button.m-copy:has-text('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == agent_token
    assert agent_login(web, agent_token) == 200  # verified on creation: the token works
    row = page.locator(f"table[aria-label='House registry'] tr:has-text('{name}')")
    row.wait_for()
    assert "sdk" in row.inner_text() and "active" in row.inner_text()
    page_screenshot(page, "manage-agents-registry")

    page.click(f"a:has-text('Set up {name}')")
    page.wait_for_selector("form[aria-label='Bot settings']")
    bot_id = page.url.rstrip("/").rsplit("/", 1)[1]
    # The token was shown once: the bot's own page does not show it again.
    assert agent_token not in page.content()
    form = page.locator("form[aria-label='Bot settings']")
    assert form.locator("textarea[name=description]").input_value() == "finds things"
    handle = page.locator(".m-subtitle").inner_text().split(" ")[0]  # "@scout…"

    # As a webhook bot: its URL and signing secret, the secret never shown back.
    form.locator("select[name=runtime]").select_option("webhook")
    form.locator("input[name=response_webhook_url]").fill("https://example.com/shoal")
    secret = unique("whsec-")
    form.locator("input[name=response_webhook_secret]").fill(secret)
    form.locator("button[type=submit]").click()
    page.wait_for_selector(".m-status.m-ok:has-text('Saved')")
    assert form.locator("input[name=response_webhook_secret]").input_value() == ""
    assert form.locator("input[name=response_webhook_secret]").get_attribute(
        "placeholder") == "set (type to replace)"
    config = web.api(token, "GET", f"/api/agents/{bot_id}/config")["config"]
    assert config["response_webhook_url"] == "https://example.com/shoal"
    assert config["response_webhook_secret"] is True and secret not in page.content()

    # Then built in, on the offline model, renamed.
    form.locator("input[name=name]").fill(f"{name} II")
    form.locator("select[name=runtime]").select_option("builtin")
    form.locator("select[name=model_primary]").select_option("offline/shoal-offline")
    prompt = form.locator("textarea[name=system_prompt]")
    prompt.click()
    prompt.type("You find things.\n")
    prompt.press("Tab")
    prompt.type("- be brief")
    form.locator("input[name=fallbacks_default]").uncheck()
    assert not form.locator("input[name=ambient_on_agents]").is_visible()
    form.locator("select[name=trigger_mode]").select_option("ambient")
    form.locator("input[name=ambient_on_agents]").check()
    form.locator("select[name=busy_policy]").select_option("collect")
    form.locator("input[name=tools_deny]").fill("clearnote, agency*")
    form.locator("input[name=tools_approval]").fill("save")
    form.locator("button[type=submit]").click()
    page.wait_for_selector(".m-status.m-ok:has-text('Saved')")
    page.wait_for_selector(f"h1:has-text('{name} II')")
    assert page.locator(f"#bot-danger button:text-is('Delete {name} II')").is_visible()

    config = web.api(token, "GET", f"/api/agents/{bot_id}/config")["config"]
    assert config["system_prompt"] == "You find things.\n  - be brief"
    assert config["runtime"] == "builtin" and config["trigger_mode"] == "ambient"
    assert config["ambient_on_agents"] is True
    assert config["model"] == {"primary": "offline/shoal-offline", "fallbacks": []}
    assert config["response_webhook_url"] == "https://example.com/shoal"  # kept
    assert config["busy_policy"] == "collect"
    assert config["tools"] == {"allow": ["*"], "deny": ["clearnote", "agency*"],
                               "approval": ["save"]}
    bots = web.api(token, "GET", "/api/agents")
    assert [b["display_name"] for b in bots if b["id"] == bot_id] == [f"{name} II"]

    # A wrong value is refused with the server's sentence, and nothing is saved.
    form.locator("input[name=max_hops]").fill("0")
    form.locator("button[type=submit]").click()
    page.wait_for_selector(".m-status.m-error:has-text('max_hops')")
    assert web.api(token, "GET", f"/api/agents/{bot_id}/config")["config"]["max_hops"] == 20
    page_screenshot(page, "manage-bot-settings")

    # Woken by a mention in a room, it answers there on the offline model...
    page.goto(f"/rooms/{web.lobby_id}")
    page.fill(".composer-input", f"{handle} what did you find?")
    page.keyboard.press("Enter")
    page.locator(f".msg.agent:has(.handle:text-is('{handle}'))").last.wait_for()
    # ...and its page logs the activation.
    page.goto(f"/house/{web.home_id}/agents/{bot_id}")
    log = page.locator("[role=list][aria-label=Activations]")
    activation = log.locator("details.m-activation[data-outcome=replied]")
    activation.wait_for()
    assert "#lobby" in activation.locator("summary").inner_text()
    assert "1 activation," in page.locator("#activations").inner_text()
    assert not page.locator("#activations button:has-text('Show more')").is_visible()

    # A new token replaces the old one, shown once; then revoking locks the bot out.
    page.reload()
    page.wait_for_selector("table[aria-label='Tokens']")
    assert agent_token not in page.content()
    page.click("button:has-text('New token')")
    page.click("button:has-text('Replace the current token?')")  # asks before replacing
    fresh = shown_secret(page, "New agent token for")
    assert fresh != agent_token and agent_login(web, fresh) == 200
    assert agent_login(web, agent_token) == 401
    page.click("button:has-text('Revoke tokens')")
    page.click("button:has-text('Revoke every token now?')")
    page.wait_for_selector(".m-status.m-ok:has-text('Revoked')")
    assert agent_login(web, fresh) == 401
    page.reload()
    page.wait_for_selector("table[aria-label='Tokens']")
    assert fresh not in page.content()


def test_the_activation_log_shows_the_bots_activations(new_page, web: WebServer) -> None:
    token, user = web.register_api()
    name = f"Lookout {unique('')}"
    created = web.api(token, "POST", "/api/agents", {"name": name, "houseId": web.home_id})
    bot = created["agent"]
    # The offline model calls the slash command the message names, as a tool.
    web.post(token, web.lobby_id, f"@{bot['username']} what is new? Try /roll 2d6")
    page: Page = new_page("/")
    login_with_token(page, token, f"/house/{web.home_id}/agents/{bot['id']}")
    log = page.locator("[role=list][aria-label=Activations]")
    entry = log.locator("details.m-activation[data-outcome=replied]")
    for _ in range(20):  # the builtin bot answers on the offline model within moments
        if entry.count():
            break
        page.click("button:has-text('Refresh')")
        page.wait_for_timeout(500)
    entry.first.wait_for()
    entry.first.locator("summary").click()
    details = entry.first.locator("dl").inner_text()
    assert "mention" in details and "#lobby" in details
    calls = entry.first.locator("ol[aria-label='Tool calls'] li")
    assert calls.count() == 1 and calls.first.get_attribute("data-status") == "done"
    assert "roll" in calls.first.inner_text()
    assert "offline/shoal-offline" in details
    assert "Tokens" in details and " in / " in details
    page_screenshot(page, "manage-activation-log")

    # The filters ask the server: no errors here; the room filter keeps the lobby's row.
    page.select_option("select[name=outcome]", "error")
    page.wait_for_selector("[aria-label=Activations] >> text=No activations match")
    page.select_option("select[name=outcome]", "")
    page.select_option("select[name=room]", web.lobby_id)
    entry.first.wait_for()
    page.select_option("select[name=since]", "3600")
    entry.first.wait_for()
    # Its owner verifies it on the page; then its token logs in.
    assert agent_login(web, created["agentToken"]) == 403
    page.click("button:has-text('Verify bot')")
    page.wait_for_selector("#bot-access .m-badge:text-is('active')")
    assert agent_login(web, created["agentToken"]) == 200

    # A member who does not own the bot may read its log, not change it.
    other, _ = web.register_api()
    viewer: Page = new_page("/")
    login_with_token(viewer, other, f"/house/{web.home_id}/agents/{bot['id']}")
    viewer.wait_for_selector("details.m-activation[data-outcome=replied]")
    assert viewer.locator("form[aria-label='Bot settings']").count() == 0
    assert viewer.locator("text=Only the bot's owner and house admins can change it").is_visible()


def test_house_settings_render_for_the_owner(new_page, web: WebServer) -> None:
    owner = web.owner_token()
    _, newcomer = web.register_api()  # joins the home house as a member
    page: Page = new_page("/")
    login_with_token(page, owner, f"/house/{web.home_id}/settings")
    page.wait_for_selector("table[aria-label=Members]")
    for title in ("House", "Members and roles", "Invites", "Model keys", "Models and agents",
                  "Hooks", "Webhook subscriptions", "Custom commands", "Heartbeats", "Cron jobs"):
        assert page.locator(f"section.m-card h2:text-is('{title}')").is_visible(), title
    expect(page.locator(".m-settings >> text=Loading…")).to_have_count(0)
    assert page.locator("section.m-card .m-error").count() == 0

    # The owner changes a member's role and the house's description.
    page.select_option(f"select[aria-label='Role of @{newcomer['username']}']", "guest")
    page.wait_for_selector(f"text=@{newcomer['username']} is now guest.")
    roles = {m["id"]: m["role"] for m in web.api(owner, "GET",
                                                 f"/api/houses/{web.home_id}/members")}
    assert roles[newcomer["id"]] == "guest"
    charter = f"We ship small things. {unique()}"
    page.fill("textarea[name=house_description]", charter)
    page.click("form[aria-label=House] button[type=submit]")
    page.wait_for_selector("form[aria-label=House] .m-status.m-ok")
    assert web.api(owner, "GET", f"/api/houses/{web.home_id}")["description"] == charter
    web.api(owner, "PATCH", f"/api/houses/{web.home_id}", {"description": ""})  # as it was

    # An invite code is shown once with a copy button.
    invite = page.locator("form[aria-label='New invite']")
    invite.locator("input[name=invite_uses]").fill("3")
    invite.locator("button[type=submit]").click()
    code = shown_secret(page, "Invite code")
    assert code.startswith("shi_")
    page.wait_for_selector("table[aria-label=Invites] >> text=0 / 3")

    # A model key is stored and shown only masked.
    key = f"sk-{unique()}-9z8y"
    keys = page.locator("form[aria-label='Add a key']")
    keys.locator("input[name=key_provider]").fill("openai")
    keys.locator("input[name=key_value]").fill(key)
    keys.locator("input[name=key_label]").fill("team")
    keys.locator("button[type=submit]").click()
    page.wait_for_selector("table[aria-label='Model keys'] >> text=…9z8y")
    assert key not in page.content()
    page_screenshot(page, "manage-house-settings")
    # As it was: a stored OpenAI key would send the shared house's later model calls (and
    # people's search embeddings) to OpenAI instead of the tests' fake provider.
    for stored in web.api(owner, "GET", f"/api/houses/{web.home_id}/keys"):
        web.api(owner, "DELETE", f"/api/houses/{web.home_id}/keys/{stored['id']}")

    narrow: Page = new_page("/", width=390, height=844)
    login_with_token(narrow, owner, f"/house/{web.home_id}/settings")
    narrow.wait_for_selector("table[aria-label=Members]")
    page_screenshot(narrow, "manage-house-settings-phone")


def test_a_member_sees_settings_without_admin_sections(new_page, web: WebServer) -> None:
    token, _ = web.register_api()
    page: Page = new_page("/")
    login_with_token(page, token, f"/house/{web.home_id}/settings")
    page.wait_for_selector("table[aria-label=Members]")
    assert page.locator("form[aria-label='New invite']").count() == 0
    assert page.locator("text=Only house admins can see the house's keys.").is_visible()
    assert page.locator("select[aria-label^='Role of']").count() == 0
    r = httpx.get(f"{web.url}/api/houses/{web.home_id}/keys",
                  headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403


def test_the_model_choice_is_the_houses_allowlist(new_page, web: WebServer) -> None:
    token, _ = web.register_api()
    house = web.api(token, "POST", "/api/houses", {"name": unique("lab")})
    bot = web.api(token, "POST", "/api/agents", {"name": unique("Pick"), "houseId": house["id"]})
    web.api(token, "PATCH", f"/api/houses/{house['id']}/settings",
            {"models": {"offline": {"alias": "cheap"}, "openai/gpt-5-mini": {}}})
    page: Page = new_page("/")
    login_with_token(page, token, f"/house/{house['id']}/agents/{bot['agent']['id']}")
    primary = page.locator("select[name=model_primary]")
    primary.wait_for()
    options = primary.locator("option").all_inner_texts()
    assert options[1:] == ["offline/shoal-offline (cheap)", "openai/gpt-5-mini"]
    assert page.locator("text=This house allows only these models.").is_visible()
    primary.select_option("openai/gpt-5-mini")
    page.click("form[aria-label='Bot settings'] button[type=submit]")
    page.wait_for_selector(".m-status.m-ok:has-text('Saved')")
    config = web.api(token, "GET", f"/api/agents/{bot['agent']['id']}/config")["config"]
    assert config["model"]["primary"] == "openai/gpt-5-mini"


def test_the_manage_pages_share_one_width_and_the_prompt_wraps(new_page, web: WebServer) -> None:
    owner = web.owner_token()
    bot = web.api(owner, "POST", "/api/agents", {"name": unique("Wide"), "houseId": web.home_id})
    page: Page = new_page("/", width=1600)  # wider than the pages' content
    base = f"/house/{web.home_id}"
    widths = {}
    for path, ready in ((f"{base}/agents", "table[aria-label='House registry']"),
                        (f"{base}/agents/{bot['agent']['id']}", "#bot-prompt"),
                        (f"{base}/settings", "table[aria-label=Members]")):
        login_with_token(page, owner, path)
        page.wait_for_selector(ready)
        widths[path] = page.evaluate("document.querySelector('.manage').offsetWidth")
    assert len(set(widths.values())) == 1, widths

    page.goto(f"{base}/agents/{bot['agent']['id']}")
    prompt = page.locator("#bot-prompt")
    prompt.fill("You are a careful bot. " * 40)  # one long line
    assert prompt.evaluate("el => el.scrollWidth <= el.clientWidth"), "the prompt scrolls sideways"
    assert prompt.evaluate("el => getComputedStyle(el).whiteSpace") == "pre-wrap"
