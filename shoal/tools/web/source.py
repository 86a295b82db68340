"""The web tools as a tool source: `web_fetch` always, `web_search` when the operator
configured a search provider; both in group `web`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shoal.net.outbound import Outbound, OutboundPolicy
from shoal.tools.base import Tool, ToolError, ToolList
from shoal.tools.web.fetch import PageFetcher
from shoal.tools.web.search import results_text, search_provider

if TYPE_CHECKING:
    from shoal.config import Settings, WebToolSettings
    from shoal.tools.base import ToolScope
    from shoal.tools.web.fetch import Page
    from shoal.tools.web.readable import Format
    from shoal.tools.web.search import SearchProvider

GROUP = "web"
MIN_CHARS = 500
MAX_QUERY_CHARS = 400


class WebTools:
    """Supplies web_fetch and web_search; the same tools in every room."""

    def __init__(self, settings: WebToolSettings, policy: OutboundPolicy,
                 env: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.fetcher = PageFetcher(Outbound(policy), settings)
        # The search provider's address is the operator's own choice, so it may be internal
        # (a SearXNG next to Shoal); pages to fetch are chosen by a model and stay guarded.
        provider = search_provider(settings, Outbound(OutboundPolicy(allow_private=True)),
                                   os.environ if env is None else env)
        self.unavailable: dict[str, str] = {}
        self.search: SearchProvider | None = None
        if isinstance(provider, str):
            self.unavailable["web_search"] = provider
        else:
            self.search = provider
        self._tools = [self._fetch_tool()] + ([self._search_tool()] if self.search else [])

    @classmethod
    def from_settings(cls, settings: Settings) -> WebTools:
        """The web tools under the server's `[tools.web]` settings and outbound policy."""
        return cls(settings.tools.web, OutboundPolicy.from_settings(settings))

    async def tools(self, scope: ToolScope) -> ToolList:
        """web_fetch, and web_search when a provider is configured."""
        return ToolList(list(self._tools), dict(self.unavailable))

    def _fetch_tool(self) -> Tool:
        most = self.settings.fetch_max_chars
        return Tool(
            name="web_fetch",
            description=(
                "Fetch a web page (HTML, text, JSON or XML) by URL and read its main text; "
                "navigation and other page furniture are left out. Answers the final URL "
                "after redirects, the title and the text."),
            parameters={
                "type": "object",
                "properties": {
                    "url": {"type": "string", "description": "an http:// or https:// URL"},
                    "format": {"type": "string", "enum": ["markdown", "text"],
                               "description": "markdown (default, keeps headings, lists "
                                              "and links) or plain text"},
                    "max_chars": {"type": "integer", "minimum": MIN_CHARS, "maximum": most,
                                  "description": f"at most this much text (default {most})"},
                },
                "required": ["url"],
            },
            groups=(GROUP,),
            run=self._run_fetch,
        )

    def _search_tool(self) -> Tool:
        assert self.search is not None
        return Tool(
            name="web_search",
            description=(f"Search the web ({self.search.name}). Answers titles, URLs and "
                         "snippets; fetch a result with web_fetch to read it."),
            parameters={
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "what to search for"},
                    "count": {"type": "integer", "minimum": 1, "maximum": 20,
                              "description": "how many results "
                                             f"(default {self.settings.search_count})"},
                },
                "required": ["query"],
            },
            groups=(GROUP,),
            run=self._run_search,
        )

    async def _run_fetch(self, arguments: dict[str, Any]) -> str:
        url = arguments.get("url")
        if not isinstance(url, str) or not url.strip():
            raise ToolError("web_fetch needs a url, like https://example.com/page")
        form: Format = "text" if arguments.get("format") == "text" else "markdown"
        if arguments.get("format") not in (None, "", "markdown", "text"):
            raise ToolError('format must be "markdown" or "text"')
        most = self.settings.fetch_max_chars
        limit = _integer(arguments.get("max_chars"), "max_chars", most)
        page = await self.fetcher.fetch(url.strip(), form)
        return page_text(page, max(MIN_CHARS, min(limit, most)))

    async def _run_search(self, arguments: dict[str, Any]) -> str:
        assert self.search is not None
        query = arguments.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ToolError("web_search needs a query, the words to search for")
        query = query.strip()
        if len(query) > MAX_QUERY_CHARS:
            raise ToolError(f"the query is longer than {MAX_QUERY_CHARS} characters; "
                            "use fewer words")
        count = _integer(arguments.get("count"), "count", self.settings.search_count)
        if not 1 <= count <= 20:
            raise ToolError("count must be between 1 and 20")
        return results_text(query, await self.search.search(query, count))


def page_text(page: Page, limit: int) -> str:
    """A page as the tool's result: URL, title, then the text cut at `limit` characters with
    a note saying so."""
    head = [f"URL: {page.url}"] + ([f"Title: {page.title}"] if page.title else [])
    text = page.text or "(the page has no readable text)"
    if len(text) > limit:
        text = (f"{text[:limit]}\n\n[cut: this is the first {limit:,} of {len(text):,} "
                "characters]")
    return "\n".join(head) + "\n\n" + text


def _integer(value: Any, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise ToolError(f"{name} must be a whole number")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ToolError(f"{name} must be a whole number") from None
