"""The web tools against real HTTP servers on loopback: readable pages, the outbound guard at
every redirect, size and time caps, the cache, and web_search through SearXNG and Brave."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from shoal.config import WebToolSettings, load_settings, parse_networks
from shoal.errors import InvalidInput
from shoal.net import OutboundPolicy
from shoal.store.tables import User
from shoal.tools.base import ToolError, ToolScope
from shoal.tools.web import WebTools
from tests.receiver import Receiver, receiver
from tests.support import fake_dns

# The test servers listen on 127.0.0.1, which the operator allows here; the rest of loopback
# (127.0.0.2 ...) and every other internal address stay refused.
LOOPBACK_ONE = OutboundPolicy(allowed_networks=parse_networks("127.0.0.1/32"))
SCOPE = ToolScope(User(username="scout"), "house", "room")

ARTICLE = """<!doctype html><html><head><title>Otters | Wildlife Weekly</title></head><body>
<nav><a href="/">Home</a> | <a href="/shop">Shop our mugs</a> | <a href="/about">About us</a></nav>
<main><article><h1>Sea otters</h1>
<p>Sea otters hold hands while they sleep so that they do not drift apart. A group of them
resting together is called a raft, and a raft can number in the hundreds.</p>
<p>They crack shellfish open with <a href="/rocks">rocks</a> and keep a favourite rock in a
pouch of loose skin under the arm.</p>
<ul><li>Weight: up to 45 kg</li><li>Range: the North Pacific</li></ul>
</article></main>
<footer>Copyright Wildlife Weekly. Cookie settings. Privacy policy.</footer>
</body></html>"""


def web_tools(policy: OutboundPolicy = LOOPBACK_ONE, env: dict[str, str] | None = None,
              **settings: Any) -> WebTools:
    return WebTools(WebToolSettings(**settings), policy, env={} if env is None else env)


async def call(tools: WebTools, name: str, **arguments: Any) -> str:
    """Call one of the tools the source offers, as the registry does."""
    [tool] = [t for t in (await tools.tools(SCOPE)).tools if t.name == name]
    return await tool.run(arguments)


def html(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html")


@pytest.fixture
async def site() -> AsyncIterator[Receiver]:
    async def answer(request: web.Request) -> web.StreamResponse:
        if request.path == "/article":
            return html(ARTICLE)
        if request.path == "/moved":
            raise web.HTTPFound("/article")
        if request.path == "/long":
            return html(ARTICLE.replace("<ul>", "<p>Otters groom their fur for hours.</p>" * 60
                                        + "<ul>"))
        if request.path == "/data.json":
            return web.json_response({"otters": ["sea", "river"]})
        raise web.HTTPNotFound()

    async with receiver(answer) as server:
        yield server


async def test_web_fetch_answers_the_readable_text_of_a_page_without_its_navigation(
        site: Receiver) -> None:
    tools = web_tools()
    page = await call(tools, "web_fetch", url=site.url + "/article")
    assert page.startswith(f"URL: {site.url}/article\nTitle: ")
    assert "# Sea otters" in page
    assert "hold hands while they sleep" in page and "Weight: up to 45 kg" in page
    assert f"[rocks]({site.url}/rocks)" in page  # links, made absolute
    for furniture in ("Shop our mugs", "About us", "Cookie settings"):
        assert furniture not in page

    text = await call(tools, "web_fetch", url=site.url + "/article", format="text")
    assert "hold hands while they sleep" in text and "[rocks]" not in text
    assert "# Sea otters" not in text


async def test_redirects_are_followed_and_the_result_names_the_final_url(
        site: Receiver) -> None:
    page = await call(web_tools(), "web_fetch", url=site.url + "/moved")
    assert page.startswith(f"URL: {site.url}/article\n")
    assert "hold hands while they sleep" in page


async def test_json_and_other_text_come_back_as_sent(site: Receiver) -> None:
    page = await call(web_tools(), "web_fetch", url=site.url + "/data.json")
    assert page == f'URL: {site.url}/data.json\n\n{{"otters": ["sea", "river"]}}'


async def test_a_long_page_is_cut_at_max_chars_with_a_note(site: Receiver) -> None:
    page = await call(web_tools(), "web_fetch", url=site.url + "/long", max_chars=500)
    body = page.split("\n\n", 1)[1]
    assert body.startswith("# Sea otters")
    assert "[cut: this is the first 500 of " in body
    assert len(body.split("\n\n[cut:")[0]) == 500


@pytest.mark.parametrize("target", [
    "http://127.0.0.2:{port}/article",  # loopback, but not the allowed address
    "http://169.254.169.254/latest/meta-data/",
    "http://intranet.example:{port}/secrets",  # a name that resolves to a private address
])
async def test_a_redirect_to_a_private_address_is_refused(
        target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"intranet.example": ["10.0.0.5"]})
    async with receiver(html_answer(ARTICLE), host="127.0.0.2") as inside:
        port = inside.url.rsplit(":", 1)[1]

        async def redirect(request: web.Request) -> web.StreamResponse:
            raise web.HTTPFound(target.format(port=port))

        async with receiver(redirect) as outside:
            with pytest.raises(ToolError) as refused:
                await call(web_tools(), "web_fetch", url=outside.url + "/start")
        assert "the page redirected to http://" in refused.value.message
        assert "private, loopback or other internal address" in refused.value.message
        assert inside.requests == []  # never contacted


async def test_a_private_address_is_refused_unless_the_operator_allows_it() -> None:
    async with receiver(html_answer(ARTICLE), host="127.0.0.2") as inside:
        with pytest.raises(ToolError, match="is a private, loopback or other internal"):
            await call(web_tools(), "web_fetch", url=inside.url + "/article")
        assert inside.requests == []
        allowed = web_tools(OutboundPolicy(allow_private=True))
        assert "hold hands" in await call(allowed, "web_fetch", url=inside.url + "/article")


async def test_a_redirect_loop_ends_after_the_hop_limit() -> None:
    async def again(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(f"/hop{int(request.path.removeprefix('/hop') or 0) + 1}")

    async with receiver(again) as loop:
        with pytest.raises(ToolError, match="redirected more than 3 times"):
            await call(web_tools(fetch_max_redirects=3), "web_fetch", url=loop.url + "/hop0")
        assert [r.path for r in loop.requests] == ["/hop0", "/hop1", "/hop2", "/hop3"]


async def test_an_oversize_page_is_cut_off_with_a_tool_error() -> None:
    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/html"})
        await response.prepare(request)  # chunked: no size declared up front
        for _ in range(64):
            await response.write(b"<p>" + b"otter " * 170 + b"</p>")
        return response

    async with receiver(endless) as big:
        with pytest.raises(ToolError) as refused:
            await call(web_tools(fetch_max_bytes=4096), "web_fetch", url=big.url + "/")
    assert refused.value.message == ("the page is larger than 4,096 bytes, more than "
                                     "web_fetch reads")


async def test_a_slow_page_is_cut_off_with_a_tool_error() -> None:
    release = asyncio.Event()

    async def stalled(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/html"})
        await response.prepare(request)
        await response.write(b"<html><body><p>starting")
        await release.wait()
        return response

    async with receiver(stalled) as slow:
        try:
            with pytest.raises(ToolError) as refused:
                await call(web_tools(fetch_timeout_seconds=0.3), "web_fetch", url=slow.url)
        finally:
            release.set()
    assert refused.value.message == "the page did not load within 0.3 seconds"


async def test_a_binary_type_is_refused_before_its_body_is_read() -> None:
    async def pdf(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"%PDF-1.7" + b"\0" * 100_000, content_type="application/pdf")

    async with receiver(pdf) as server:
        with pytest.raises(ToolError) as refused:
            # Read whole, the body would break the size cap: the type is what refuses it.
            await call(web_tools(fetch_max_bytes=4096), "web_fetch", url=server.url + "/a.pdf")
    assert refused.value.message == ("the page is application/pdf, which web_fetch does not "
                                     "read; it reads HTML, text, JSON and XML")


async def test_an_error_status_and_bad_arguments_are_tool_errors(site: Receiver) -> None:
    tools = web_tools()
    with pytest.raises(ToolError, match=r"answered HTTP 404 \(Not Found\)"):
        await call(tools, "web_fetch", url=site.url + "/nowhere")
    with pytest.raises(ToolError, match="http:// or https:// URL with a host name"):
        await call(tools, "web_fetch", url="file:///etc/passwd")
    with pytest.raises(ToolError, match="web_fetch needs a url"):
        await call(tools, "web_fetch")
    with pytest.raises(ToolError, match='format must be "markdown" or "text"'):
        await call(tools, "web_fetch", url=site.url + "/article", format="pdf")
    with pytest.raises(ToolError, match="max_chars must be a whole number"):
        await call(tools, "web_fetch", url=site.url + "/article", max_chars="lots")


async def test_a_page_fetched_lately_comes_from_the_cache(site: Receiver) -> None:
    tools = web_tools(cache_seconds=300)
    now = [1000.0]
    tools.fetcher.clock = lambda: now[0]
    first = await call(tools, "web_fetch", url=site.url + "/article")
    again = await call(tools, "web_fetch", url=site.url + "/article")
    assert again == first
    assert len(site.requests) == 1

    now[0] += 301  # the entry has run out
    await call(tools, "web_fetch", url=site.url + "/article")
    assert len(site.requests) == 2

    uncached = web_tools(cache_seconds=0)
    for _ in range(2):
        await call(uncached, "web_fetch", url=site.url + "/article")
    assert len(site.requests) == 4


async def test_web_fetch_alone_without_a_search_provider() -> None:
    listed = await web_tools().tools(SCOPE)
    assert [t.name for t in listed.tools] == ["web_fetch"]
    assert listed.tools[0].groups == ("web",)
    assert listed.unavailable == {}
    # Brave chosen without its key: still no web_search, and the reason is given.
    listed = await web_tools(search="brave").tools(SCOPE)
    assert [t.name for t in listed.tools] == ["web_fetch"]
    assert listed.unavailable == {
        "web_search": "Brave Search is chosen but BRAVE_API_KEY is not set"}
    # A key in the environment is enough, unless the operator turned search off.
    assert [t.name for t in (await web_tools(env={"BRAVE_API_KEY": "k"}).tools(SCOPE)).tools
            ] == ["web_fetch", "web_search"]
    off = web_tools(env={"BRAVE_API_KEY": "k"}, search="off")
    assert [t.name for t in (await off.tools(SCOPE)).tools] == ["web_fetch"]


async def test_web_search_through_searxng() -> None:
    async def searxng(request: web.Request) -> web.StreamResponse:
        return web.json_response({"query": request.query["q"], "results": [
            {"title": "Sea otter - Wikipedia", "url": "https://en.wikipedia.org/wiki/Sea_otter",
             "content": "The sea otter is a marine mammal &amp; a keystone species."},
            {"title": "Otter facts", "url": "https://otters.example/facts", "content": ""},
            {"title": "no address"},
        ]})

    async with receiver(searxng) as instance:
        tools = web_tools(searxng_url=instance.url + "/")
        listed = await tools.tools(SCOPE)
        assert [(t.name, t.groups) for t in listed.tools] == [
            ("web_fetch", ("web",)), ("web_search", ("web",))]
        answer = await call(tools, "web_search", query="sea otters")
        assert instance.requests[0].path == "/search?q=sea+otters&format=json"
    assert answer == (
        "1. Sea otter - Wikipedia\n   https://en.wikipedia.org/wiki/Sea_otter\n"
        "   The sea otter is a marine mammal & a keystone species.\n"
        "2. Otter facts\n   https://otters.example/facts")


async def test_web_search_through_brave() -> None:
    async def brave(request: web.Request) -> web.StreamResponse:
        if request.headers.get("x-subscription-token") != "brave-key":
            return web.json_response({"error": "bad key"}, status=401)
        count = int(request.query["count"])
        return web.json_response({"web": {"results": [
            {"title": f"Otter page {n}", "url": f"https://otters.example/{n}",
             "description": "all about <strong>otters</strong>"} for n in range(1, 9)][:count]}})

    async with receiver(brave) as api:
        tools = web_tools(env={"BRAVE_API_KEY": "brave-key"}, search="brave",
                          brave_url=api.url + "/res/v1/web/search")
        answer = await call(tools, "web_search", query="otters", count=2)
        assert api.requests[0].path == "/res/v1/web/search?q=otters&count=2"
        assert answer == ("1. Otter page 1\n   https://otters.example/1\n   all about otters\n"
                          "2. Otter page 2\n   https://otters.example/2\n   all about otters")
        assert (await call(tools, "web_search", query="otters")).count("Otter page") == 5

        wrong = web_tools(env={"BRAVE_API_KEY": "stale"}, brave_url=api.url + "/x")
        with pytest.raises(ToolError, match="refused the API key .* check BRAVE_API_KEY"):
            await call(wrong, "web_search", query="otters")
        with pytest.raises(ToolError, match="web_search needs a query"):
            await call(tools, "web_search", query=" ")


def test_the_tools_web_table_is_checked_at_start() -> None:
    settings = load_settings(tools={"web": {"search": "searxng",
                                            "searxng_url": "http://searx:8080"}})
    assert settings.tools.web.searxng_url == "http://searx:8080"
    with pytest.raises(InvalidInput, match='search = "searxng" needs searxng_url'):
        load_settings(tools={"web": {"search": "searxng"}})
    with pytest.raises(InvalidInput, match="tools.web.fetch_max_bytes"):
        load_settings(tools={"web": {"fetch_max_bytes": 0}})


def test_a_table_can_come_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOAL_TOOLS", '{"deny": ["web_fetch"], "web": {"cache_seconds": 9}}')
    monkeypatch.setenv("SHOAL_MCP", '{"call_timeout_seconds": 5}')
    settings = load_settings()
    assert settings.tools.web.cache_seconds == 9
    assert settings.tools.model_extra == {"deny": ["web_fetch"]}
    assert settings.mcp == {"call_timeout_seconds": 5}
    monkeypatch.setenv("SHOAL_TOOLS", "deny=web_fetch")
    with pytest.raises(InvalidInput, match=r"SHOAL_TOOLS must be a JSON object.*\[tools\] table"):
        load_settings()


def html_answer(text: str) -> Any:
    async def answer(request: web.Request) -> web.StreamResponse:
        return html(text)
    return answer
