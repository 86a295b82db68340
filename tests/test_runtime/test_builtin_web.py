"""A builtin agent on the fake provider reads a web page with web_fetch: the page's text
reaches the model, the call is a tool card, and a refused address is an error it can read."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from shoal.llm.fakeserver import FakeLLMServer, FakeToolCall, Reply
from shoal.tools.web import WebTools
from tests.receiver import receiver
from tests.test_runtime.conftest import Bench
from tests.test_runtime.test_builtin_runs import run_of

PAGE = """<html><head><title>Release notes</title></head><body>
<nav><a href="/">Home</a> <a href="/pricing">Pricing plans</a></nav>
<article><h1>Release 4.2</h1><p>Release 4.2 ships on the ninth of June, with faster search
and a new export to spreadsheets. Upgrading needs no downtime.</p></article>
</body></html>"""


async def test_a_builtin_agent_reads_a_page_with_web_fetch(
        bench: Bench, fake: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    shoal = bench.server.shoal
    # The page is on loopback: this operator allows 127.0.0.1, and nothing else internal.
    allowed = WebTools.from_settings(shoal.settings.model_copy(
        update={"outbound_allowed_networks": "127.0.0.1/32"}))
    monkeypatch.setattr(shoal.web_tools, "fetcher", allowed.fetcher)

    async def notes(request: web.Request) -> web.StreamResponse:
        return web.Response(text=PAGE, content_type="text/html")

    async with receiver(notes) as site:
        fake.script(
            Reply(tool_calls=[FakeToolCall("web_fetch", {"url": site.url + "/notes"}),
                              FakeToolCall("web_fetch", {"url": "http://169.254.169.254/"})]),
            Reply("4.2 ships on the ninth of June."))
        trigger = await bench.say("Scout, when does 4.2 ship? See the release notes.")
        outcome = await bench.run(trigger)

    assert outcome.outcome == "replied"
    offered = {t["function"]["name"]: t for t in fake.requests[0].body["tools"]}
    assert "web_search" not in offered  # no search provider configured
    assert offered["web_fetch"]["function"]["parameters"]["required"] == ["url"]
    results = [m["content"] for m in fake.requests[1].body["messages"] if m["role"] == "tool"]
    assert results[0].startswith(f"URL: {site.url}/notes\n")
    assert "ships on the ninth of June" in results[0] and "Pricing plans" not in results[0]
    assert results[1] == ("error: http://169.254.169.254 is a private, loopback or other "
                          "internal address, which web_fetch may not reach")
    [reply] = await bench.messages_after(trigger["seq"])
    assert reply["content"] == "4.2 ships on the ninth of June."
    run = await run_of(bench)
    cards = [e for e in run["transcript"] if e["type"] == "tool-result"]
    assert [c["tool"] for c in cards] == ["web_fetch", "web_fetch"]
    assert "ships on the ninth of June" in json.dumps(cards[0])
    assert "running web_fetch" in [e.get("status") for e in run["transcript"]]


async def test_a_denied_web_tool_is_not_offered(bench: Bench, fake: FakeLLMServer) -> None:
    await bench.configure(model={"primary": "openai/fake-gpt"}, tools={"deny": ["web_*"]})
    fake.script(Reply("ok"))
    await bench.run(await bench.say("Scout, hello"))
    offered = {t["function"]["name"] for t in fake.requests[0].body.get("tools", [])}
    assert offered and "web_fetch" not in offered
