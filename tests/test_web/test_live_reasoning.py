"""Reasoning in the browser: a model's reasoning grows live in the run card, folded, and
never reaches the reply.

The scripted answer is for the reasoning model only: while this test swaps the server's models,
an ambient agent elsewhere in the shared house may ask its relevance question through them
(CI saw one), and a script open to any model would answer that question instead."""

from __future__ import annotations

from playwright.sync_api import expect

from shoal.llm import Catalog, KeyRing, LLMConfig, ModelConfig, ModelRouter, ProviderConfig
from shoal.llm.fakeserver import FakeLLMServer, Reply
from tests.support import unique
from tests.test_web.conftest import Page, WebServer, login_with_token, screenshot

WATCH_REASONING = """() => {
  window.liveReasoning = [];
  window.openedByItself = false;
  new MutationObserver(() => {
    for (const el of document.querySelectorAll('.run-reasoning.live')) {
      const text = el.querySelector('.reasoning-text').textContent;
      if (!window.liveReasoning.includes(text)) window.liveReasoning.push(text);
      if (el.open) window.openedByItself = true;
    }
  }).observe(document.body, {childList: true, subtree: true, attributes: true});
}"""


def test_reasoning_grows_live_in_a_folded_section(new_page, web: WebServer) -> None:
    fake = web.run(FakeLLMServer().start())
    catalog = Catalog(LLMConfig(
        providers={"openai": ProviderConfig(kind="openai", base_url=fake.openai_base_url,
                                            api_key_env=["OPENAI_API_KEY"])},
        models={"openai/fake-reasoner": ModelConfig(reasoning=True)}), env={})
    shoal = web.server.shoal
    saved = shoal.models
    shoal.models = ModelRouter(catalog, KeyRing(env={"OPENAI_API_KEY": "sk-test"}))
    reasoning = " ".join(f"step{i} adds one more." for i in range(1, 25))
    try:
        owner = web.owner_token()
        # A room of its own: the lobby's other agents would answer too and take the script.
        room = web.api(owner, "POST", "/api/agencies", {"name": unique("think")})
        bot = web.api(owner, "POST", "/api/agents",
                      {"name": unique("Thinker"), "agencyId": room["id"]})["agent"]
        web.api(owner, "POST", f"/api/agents/{bot['id']}/verify")
        web.api(owner, "PATCH", f"/api/agents/{bot['id']}/config", {
            "runtime": "builtin", "model": {"primary": "openai/fake-reasoner", "fallbacks": []},
            "thinking": "high"})
        fake.script(Reply("Twenty-four steps.", reasoning=reasoning, chunk_delay=0.05),
                    model="fake-reasoner")
        page: Page = new_page("/")
        login_with_token(page, owner, f"/rooms/{room['id']}")
        page.wait_for_selector(f".room-header h2:has-text('{room['name']}')")
        page.evaluate(WATCH_REASONING)
        page.fill(".composer-input", f"@{bot['username']} how many steps?")
        page.keyboard.press("Enter")

        card = page.locator(".run-card").last
        section = card.locator(".run-reasoning:not(.live)")
        section.wait_for(state="attached")
        reply = page.locator(f".msg.agent:has(.handle:has-text('@{bot['username']}'))").last
        expect(reply).to_contain_text("Twenty-four steps.")
        seen = page.evaluate("window.liveReasoning")
        assert any(0 < len(text) < len(reasoning) and reasoning.startswith(text)
                   for text in seen), seen  # it was on screen while it grew
        assert page.evaluate("window.openedByItself") is False
        assert section.evaluate("el => el.open") is False
        assert "step1 adds" not in reply.inner_text()
        section.locator("summary").click()
        expect(section.locator(".reasoning-text")).to_have_text(reasoning)
        screenshot(page, "run-reasoning")
    finally:
        shoal.models = saved
        web.run(fake.stop())
