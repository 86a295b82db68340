"""House settings in a browser: hooks (the key shown once, rotated, revoked), webhook
subscriptions with their delivery log, custom commands, heartbeats and cron jobs with their next
and last runs, made and changed through the page."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.support import fake_dns, unique
from tests.test_tools.mcp_servers import API_KEY, serve_in_thread
from tests.test_web.conftest import Page, WebServer, login_with_token
from tests.test_web.test_manage import page_screenshot, shown_secret


def hook_post(web: WebServer, key: str, content: str) -> int:
    """The status a hook message posted with this key gets."""
    r = web.http.post("/api/hooks/messages", headers={"X-Crustocean-Hook-Key": key},
                      json={"agencyId": web.lobby_id, "content": content})
    return r.status_code


def settings_page(new_page: Any, web: WebServer, token: str) -> Page:
    page: Page = new_page("/", height=1400)
    login_with_token(page, token, f"/house/{web.home_id}/settings")
    page.wait_for_selector("table[aria-label=Members]")
    return page


def test_a_hook_is_made_rotated_and_revoked_in_settings(new_page, web: WebServer) -> None:
    page = settings_page(new_page, web, web.owner_token())
    hooks = page.locator("section#s-hooks")
    hooks.locator("summary:has-text('New hook')").click()
    name = unique("ci")
    hooks.locator("input[name=hook_name]").fill(name)
    hooks.locator(f"input[name=hook_room][value='{web.lobby_id}']").check()
    hooks.locator("form[aria-label='New hook'] button[type=submit]").click()
    key = shown_secret(page, f"Key of {name}")
    assert hook_post(web, key, "deploy finished") == 201
    row = hooks.locator(f"table[aria-label=Hooks] tr:has-text('{name}')")
    row.wait_for()
    assert "#lobby" in row.inner_text()
    state = row.locator("td[data-label=State]")
    assert state.inner_text() == "active"
    [made] = [h for h in web.api(web.owner_token(), "GET", f"/api/houses/{web.home_id}/hooks")
              if h["name"] == name]
    urls = row.locator("td[data-label=Receivers] code").all_inner_texts()
    assert urls == [f"{web.url}{path}" for path in made["endpoints"].values()]
    assert len(urls) == 4  # messages with the key, and the GitHub, Sentry, generic receivers

    row.locator("button:has-text('Rotate key')").click()
    row.locator("button:has-text('Old key stops now. Rotate?')").click()
    rotated = shown_secret(page, f"New key of {name}")
    assert rotated != key
    assert hook_post(web, key, "old key") == 401
    assert hook_post(web, rotated, "new key") == 201
    expect(state).to_contain_text("active")
    expect(state).to_contain_text("key rotated")
    page_screenshot(page, "manage-settings-hooks")

    row.locator("button:has-text('Revoke')").click()
    row.locator("button:has-text('Revoke it?')").click()
    hooks.locator(f"table[aria-label=Hooks] tr:has-text('{name}') "
                  ".m-badge:text-is('revoked')").wait_for()
    assert hook_post(web, rotated, "revoked") == 401
    assert "active" not in state.inner_text()
    assert row.locator("td[data-label=Receivers]").inner_text() == "—"
    page.reload()
    page.wait_for_selector("table[aria-label=Hooks]")
    assert key not in page.content() and rotated not in page.content()


def test_heartbeats_and_cron_jobs_show_their_next_and_last_runs(new_page, web: WebServer
                                                                ) -> None:
    owner = web.owner_token()
    name = f"Watch {unique('')}"
    bot = web.api(owner, "POST", "/api/agents", {"name": name, "houseId": web.home_id})["agent"]
    page = settings_page(new_page, web, owner)

    beats = page.locator("section#s-heartbeats")
    beats.locator("summary:has-text('New heartbeat')").click()
    beats.locator("select[name=hb_agent]").select_option(f"@{bot['username']}")
    beats.locator("select[name=hb_room]").select_option(web.lobby_id)
    beats.locator("input[name=hb_interval]").fill("2h")
    beats.locator("form[aria-label='New heartbeat'] button[type=submit]").click()
    beat = beats.locator(f"table[aria-label=Heartbeats] tr:has-text('@{bot['username']}')")
    beat.wait_for()
    cells = beat.inner_text()
    assert "#lobby" in cells and "every 2h" in cells and "in 2 h" in cells and "never" in cells
    beat.locator("button:has-text('Turn off')").click()
    beats.locator(f"tr:has-text('@{bot['username']}') .m-badge:text-is('off')").wait_for()
    [stored] = [b for b in web.api(owner, "GET", f"/api/houses/{web.home_id}/heartbeats")
                if b["agentId"] == bot["id"]]
    assert stored["enabled"] is False and stored["interval_seconds"] == 7200

    cron = page.locator("section#s-cron")
    cron.locator("summary:has-text('New cron job')").click()
    cron.locator("select[name=cron_agent]").select_option(f"@{bot['username']}")
    cron.locator("select[name=cron_kind]").select_option("every")
    cron.locator("input[name=cron_when]").fill("30m")
    cron.locator("textarea[name=cron_prompt]").fill("Anything new?")
    cron.locator("form[aria-label='New cron job'] button[type=submit]").click()
    job = cron.locator(f"table[aria-label='Cron jobs'] tr:has-text('@{bot['username']}')")
    job.wait_for()
    assert "in 30 min" in job.inner_text() and "never" in job.inner_text()
    job.locator("button:has-text('Run now')").click()
    cron.locator(".m-status.m-ok:has-text('Queued')").wait_for()
    page.reload()
    job.wait_for()
    assert "never" not in job.inner_text()  # the last run is now
    page_screenshot(page, "manage-settings-schedules")


def test_a_webhook_subscription_and_its_delivery_log(new_page, web: WebServer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    owner = web.owner_token()
    page = settings_page(new_page, web, owner)
    subs = page.locator("section#s-webhooks")
    subs.locator("summary:has-text('New subscription')").click()
    form = subs.locator("form[aria-label='New subscription']")
    # A loopback address written out is refused at once, with the rule.
    subs.locator("input[name=sub_url]").fill("http://127.0.0.1:9/events")
    subs.locator("select[name=sub_scope]").select_option(web.lobby_id)
    assert subs.locator("input[name=sub_event][value='message.created']").is_checked()
    form.locator("button[type=submit]").click()
    form.locator(".m-status.m-error:has-text('internal address')").wait_for()
    # A name that resolves to loopback: the outbound guard refuses each attempt when it
    # resolves the name, so each attempt is logged as refused.
    fake_dns(monkeypatch, {"rebound.example": ["127.0.0.1"]}, loop=web.loop)
    url = f"http://rebound.example:9/{unique('events')}"
    subs.locator("input[name=sub_url]").fill(url)
    form.locator("button[type=submit]").click()
    secret = shown_secret(page, "Signing secret of the new subscription")
    assert secret
    item = subs.locator(f"details.m-subscription:has-text('{url}')")
    item.wait_for()
    assert "#lobby" in item.locator("summary").inner_text()

    web.post(owner, web.lobby_id, f"for the log {unique()}")
    log = item.locator("table[aria-label=Deliveries]")
    for _ in range(30):  # the scheduler makes the first attempt within moments
        item.locator("summary").click()  # closes, or opens and loads the log
        if not item.evaluate("el => el.open"):
            item.locator("summary").click()
        log.wait_for()
        if "refused" in log.inner_text():
            break
        page.wait_for_timeout(300)
    row = log.locator("tr:has-text('message.created')").first
    assert "refused" in row.inner_text()
    page_screenshot(page, "manage-settings-webhooks")

    item.locator("button:has-text('Disable')").click()
    subs.locator(f"details.m-subscription:has-text('{url}') summary "
                 ".m-badge:text-is('disabled')").wait_for()
    [stored] = [s for s in web.api(owner, "GET", f"/api/webhook-subscriptions/{web.lobby_id}")
                if s["url"] == url]
    assert stored["enabled"] is False
    assert secret not in page.content()


def test_custom_commands_are_added_changed_and_removed(new_page, web: WebServer) -> None:
    owner = web.owner_token()
    page = settings_page(new_page, web, owner)
    commands = page.locator("section#s-commands")
    commands.locator("summary:has-text('New command')").click()
    name = unique("deploy")[:20]
    create = commands.locator("form[aria-label='New command']")
    create.locator("input[name=cmd_name]").fill(f"/{name}")
    create.locator("input[name=cmd_url]").fill("https://example.com/commands/deploy")
    create.locator("input[name=cmd_description]").fill("ship it")
    create.locator("button[type=submit]").click()
    item = commands.locator(f"details.m-command:has(code:text-is('/{name}'))")
    item.wait_for()
    assert "ship it" in item.locator("summary").inner_text()

    item.locator("summary").click()
    edit = item.locator(f"form[aria-label='Edit /{name}']")
    edit.locator("select[name=cmd_permission]").select_option("whitelist")
    edit.locator("input[name=cmd_whitelist]").fill("@owner")
    edit.locator("button[type=submit]").click()
    commands.locator(f"details.m-command:has(code:text-is('/{name}')) "
                     ".m-badge:text-is('Listed usernames')").wait_for()
    path = f"/api/custom-commands/{web.home_id}/commands"
    [stored] = [c for c in web.api(owner, "GET", path) if c["name"] == name]
    assert stored["invoke_permission"] == "whitelist" and stored["invoke_whitelist"] == ["owner"]
    assert stored["description"] == "ship it"
    page_screenshot(page, "manage-settings-commands")

    item = commands.locator(f"details.m-command:has(code:text-is('/{name}'))")
    if not item.evaluate("el => el.open"):  # the list was drawn again, closed
        item.locator("summary").click()
    item.locator("button:has-text('Delete')").click()
    item.locator(f"button:has-text('Delete /{name}?')").click()
    expect(commands.locator(f"code:text-is('/{name}')")).to_have_count(0)
    assert [c for c in web.api(owner, "GET", path) if c["name"] == name] == []


def test_settings_tables_show_times_in_the_houses_zone(new_page, web: WebServer) -> None:
    token, _ = web.register_api()
    house = web.api(token, "POST", "/api/houses", {"name": unique("tz")})
    web.api(token, "PATCH", f"/api/houses/{house['id']}/settings", {"timezone": "Asia/Kolkata"})
    invite = web.api(token, "POST", f"/api/houses/{house['id']}/invites",
                     {"role": "member", "expires": "400d"})
    page: Page = new_page("/")
    login_with_token(page, token, f"/house/{house['id']}/settings")
    row = page.locator("table[aria-label=Invites] tbody tr").first
    row.wait_for()
    assert "times in Asia/Kolkata" in page.locator(".m-subtitle").inner_text()
    [stored] = web.api(token, "GET", f"/api/houses/{house['id']}/invites")
    for label, iso, year in (("Created", stored["created_at"], False),
                             ("Expires", invite["expires_at"], True)):
        cell = row.locator(f"td[data-label={label}] time")
        assert cell.get_attribute("title") == iso  # the exact time on hover
        local = datetime.fromisoformat(iso).astimezone(ZoneInfo("Asia/Kolkata"))
        shown = (f"{local:%a} {local.day} {local:%b}{f' {local.year}' if year else ''}, "
                 f"{local:%H:%M}")
        assert cell.inner_text() == shown, label


def test_mcp_servers_are_added_turned_off_and_removed(new_page, web: WebServer,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web.server.shoal.settings, "outbound_allow_private", True)
    page = settings_page(new_page, web, web.owner_token())
    section = page.locator("section#s-mcp")
    name = unique("m")[:12]
    with serve_in_thread() as url:
        section.locator("summary:has-text('New MCP server')").click()
        create = section.locator("form[aria-label='New MCP server']")
        create.locator("input[name=mcp_name]").fill(name)
        create.locator("input[name=mcp_url]").fill(url)
        create.locator("textarea[name=mcp_headers]").fill(f"X-Api-Key: {API_KEY}")
        create.locator("button[type=submit]").click()
        create.locator(f".m-status:has-text('Added {name}: 5 tools.')").wait_for()
        row = section.locator(f"table[aria-label='MCP servers'] tr:has-text('{name}')")
        row.wait_for()
        assert "add, fail, slow, needs_key, grow" in row.inner_text()
        assert "X-Api-Key" in row.inner_text() and "ready" in row.inner_text()
        assert API_KEY not in page.content()
        page_screenshot(page, "manage-settings-mcp")

        row.locator("button:has-text('Turn off')").click()
        expect(row.locator(".m-badge")).to_have_text("off")
        row.locator("button:has-text('Remove')").click()
        row.locator(f"button:has-text('Remove {name}?')").click()
        expect(section.locator(f"tr:has-text('{name}')")).to_have_count(0)
