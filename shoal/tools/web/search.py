"""web_search's providers: Brave Search's API and a SearXNG instance's JSON answers. Both
answer a query with titles, URLs and snippets; which one runs is the operator's choice."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from shoal.net.outbound import OutboundError, OutboundTimeout
from shoal.tools.base import ToolError

if TYPE_CHECKING:
    from shoal.config import WebToolSettings
    from shoal.net.outbound import Outbound, OutboundResponse

SEARCH_MAX_BYTES = 1024 * 1024
_TAGS = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class SearchResult:
    """One hit: its title, its address and a snippet of its text."""

    title: str
    url: str
    snippet: str


class SearchProvider(Protocol):
    """A search engine web_search asks."""

    name: str

    async def search(self, query: str, count: int) -> list[SearchResult]:
        """Up to `count` hits for the query; ToolError says why there are none."""
        ...


class _JsonSearch:
    """A GET that answers JSON, within web_fetch's time limit and a 1 MB cap."""

    name = ""

    def __init__(self, outbound: Outbound, timeout: float) -> None:
        self.outbound = outbound
        self.timeout = timeout

    async def _get(self, url: httpx.URL, headers: dict[str, str]) -> Any:
        try:
            answer = await self.outbound.request("GET", str(url), headers=headers,
                                                 timeout=self.timeout,
                                                 max_bytes=SEARCH_MAX_BYTES)
        except OutboundTimeout:
            raise ToolError(f"{self.name} did not answer within {self.timeout:g} seconds; "
                            "try again later") from None
        except OutboundError as exc:
            raise ToolError(f"{self.name} could not be reached: {exc.message}") from None
        if answer.status >= 300:
            raise ToolError(self._refusal(answer))
        try:
            return answer.json()
        except ValueError:
            raise ToolError(f"{self.name} answered something that is not JSON") from None

    def _refusal(self, answer: OutboundResponse) -> str:
        if answer.status == 429:
            return f"{self.name} is rate limiting searches; try again in a minute"
        return f"{self.name} answered HTTP {answer.status}; try again later"


class BraveSearch(_JsonSearch):
    """Brave Search's web search API, with the operator's `BRAVE_API_KEY`."""

    name = "Brave Search"

    def __init__(self, outbound: Outbound, timeout: float, url: str, key: str) -> None:
        super().__init__(outbound, timeout)
        self.url = url
        self.key = key

    async def search(self, query: str, count: int) -> list[SearchResult]:
        """Up to `count` (at most 20, Brave's limit) web results."""
        url = httpx.URL(self.url).copy_merge_params({"q": query, "count": str(count)})
        data = await self._get(url, {"accept": "application/json",
                                     "x-subscription-token": self.key})
        hits = _field(_field(data, "web", {}), "results", [])
        return _results(hits, "description", count)

    def _refusal(self, answer: OutboundResponse) -> str:
        if answer.status in (401, 403):
            return ("Brave Search refused the API key (HTTP "
                    f"{answer.status}); the server's operator must check BRAVE_API_KEY")
        return super()._refusal(answer)


class SearXNGSearch(_JsonSearch):
    """A SearXNG instance, asked for JSON (its `search.formats` must include `json`)."""

    name = "SearXNG"

    def __init__(self, outbound: Outbound, timeout: float, base_url: str) -> None:
        super().__init__(outbound, timeout)
        self.url = base_url.rstrip("/") + "/search"

    async def search(self, query: str, count: int) -> list[SearchResult]:
        """The first `count` results of the instance's engines."""
        url = httpx.URL(self.url).copy_merge_params({"q": query, "format": "json"})
        data = await self._get(url, {"accept": "application/json"})
        return _results(_field(data, "results", []), "content", count)

    def _refusal(self, answer: OutboundResponse) -> str:
        if answer.status == 403:
            return ("SearXNG refused to answer in JSON (HTTP 403); the server's operator must "
                    "add json to search.formats in the instance's settings")
        return super()._refusal(answer)


def search_provider(settings: WebToolSettings, outbound: Outbound,
                    env: Mapping[str, str]) -> SearchProvider | str | None:
    """The configured provider; a sentence saying why a chosen one cannot run; or None when
    no provider is configured (no web_search at all)."""
    timeout = settings.fetch_timeout_seconds
    choice = settings.search
    key = env.get("BRAVE_API_KEY", "").strip()
    if choice is None:
        choice = "searxng" if settings.searxng_url else "brave" if key else "off"
    if choice == "off":
        return None
    if choice == "searxng":
        return SearXNGSearch(outbound, timeout, settings.searxng_url)
    if not key:
        return "Brave Search is chosen but BRAVE_API_KEY is not set"
    return BraveSearch(outbound, timeout, settings.brave_url, key)


def results_text(query: str, results: list[SearchResult]) -> str:
    """The hits as the model reads them: numbered, title, URL, snippet."""
    if not results:
        return f"No results for {query!r}."
    lines: list[str] = []
    for number, hit in enumerate(results, 1):
        lines.append(f"{number}. {hit.title or hit.url}\n   {hit.url}")
        if hit.snippet:
            lines.append(f"   {hit.snippet}")
    return "\n".join(lines)


def _field(data: Any, name: str, default: Any) -> Any:
    return data.get(name, default) if isinstance(data, dict) else default


def _results(hits: Any, snippet_field: str, count: int) -> list[SearchResult]:
    found: list[SearchResult] = []
    for hit in hits if isinstance(hits, list) else []:
        url = _field(hit, "url", None)
        if isinstance(url, str) and url:
            found.append(SearchResult(_plain(_field(hit, "title", "")), url,
                                      _plain(_field(hit, snippet_field, ""))))
    return found[:count]


def _plain(value: Any) -> str:
    # Snippets come with <strong> around the matched words and HTML entities.
    text = value if isinstance(value, str) else ""
    return " ".join(html.unescape(_TAGS.sub("", text)).split())
