"""The settings page's "Models and agents" section: an owner changes the house's settings and
they persist; a member reads them without controls."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.support import unique
from tests.test_web.conftest import Page, WebServer, login_with_token
from tests.test_web.test_manage import page_screenshot


def open_section(new_page, web: WebServer, token: str, house_id: str) -> Page:  # type: ignore[no-untyped-def]
    page: Page = new_page("/", height=1400)
    login_with_token(page, token, f"/house/{house_id}/settings")
    page.locator("section.m-card h2:text-is('Models and agents')").wait_for()
    expect(page.locator("#s-models >> text=Loading…")).to_have_count(0)
    return page


def test_an_owner_edits_models_and_agents_and_a_member_reads_them(new_page,
                                                                  web: WebServer) -> None:
    owner, _ = web.register_api()
    house = web.api(owner, "POST", "/api/houses", {"name": unique("studio")})
    member, _ = web.register_api()
    code = web.api(owner, "POST", f"/api/houses/{house['id']}/invites", {"role": "member"})
    web.api(member, "POST", "/api/houses/join", {"code": code["code"]})
    route = f"/api/houses/{house['id']}/settings"

    page = open_section(new_page, web, owner, house["id"])
    settings = page.locator("form[aria-label='Models and agents']")
    settings.locator("button:text-is('Add a model')").click()
    settings.locator("input[name=model_ref]").fill("haiku")
    settings.locator("input[name=model_alias]").fill("quick")
    settings.locator("input[name=timezone]").fill("Mars/Olympus")
    settings.locator("button[type=submit]").click()
    # The server's sentence, as it says it.
    expect(settings.locator(".m-status.m-error")).to_have_text(
        'timezone must be an IANA time zone name such as "Europe/Paris" or "UTC"; '
        "'Mars/Olympus' is not one")
    assert web.api(owner, "GET", route)["models"] == {}

    settings.locator("input[name=timezone]").fill("Europe/Lisbon")
    settings.locator("input[name=relevance_model]").fill("quick")
    settings.locator("select[name=run_permission_deciders]").select_option("initiator_or_admins")
    settings.locator("input[name=interaction_budget]").fill("8")
    settings.locator("select[name=thinking_default]").select_option("medium")
    settings.locator("button[type=submit]").click()
    expect(settings.locator(".m-status.m-ok")).to_have_text("Saved.")
    # Stored canonical: the alias became the model it names.
    expect(settings.locator("input[name=relevance_model]")).to_have_value(
        "anthropic/claude-haiku-4-5")
    assert web.api(owner, "GET", route) == {
        "models": {"anthropic/claude-haiku-4-5": {"alias": "quick"}},
        "relevance_model": "anthropic/claude-haiku-4-5",
        "run_permission_deciders": "initiator_or_admins", "timezone": "Europe/Lisbon",
        "interaction_budget": 8, "tools": {},
        "memory": {}, "thinking_default": "medium", "crew_roles": {}, "crew_models": {},
        "bindings": {}}
    page_screenshot(page, "manage-settings-models")

    page.reload()
    page.locator("form[aria-label='Models and agents'] input[name=timezone]").wait_for()
    expect(page.locator("form[aria-label='Models and agents'] input[name=timezone]")
           ).to_have_value("Europe/Lisbon")
    expect(page.locator("input[name=model_alias]")).to_have_value("quick")

    expect(page.locator("#s-models")).to_contain_text("No room is bound")

    # A room bound to an agent (in its header, or here through the API) is listed for all.
    room = web.api(owner, "POST", "/api/agencies", {"name": unique("desk"), "houseId": house["id"]})
    agent = web.api(owner, "POST", "/api/agents", {"name": unique("Desk"),
                                                   "houseId": house["id"]})["agent"]
    web.api(owner, "PATCH", route, {"bindings": {room["id"]: agent["username"]}})
    reader = open_section(new_page, web, member, house["id"])
    bound = reader.locator("table[aria-label='Bound rooms']")
    expect(bound).to_contain_text(f"#{room['name']}")
    expect(bound).to_contain_text(f"@{agent['username']}")
    card = reader.locator("#s-models")
    expect(card.locator("text=Only the house's owners can change these.")).to_be_visible()
    assert card.locator("form, input, select, button").count() == 0
    expect(card.locator("table[aria-label='House models']")).to_contain_text("quick")
    expect(card.locator("dd[data-term='Time zone']")).to_have_text("Europe/Lisbon")
    expect(card.locator("dd[data-term='Run permissions']")).to_have_text(
        "That person or a house admin")
    expect(card.locator("dd[data-term='Interaction budget']")).to_have_text("8")
