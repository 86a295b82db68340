"""web_fetch's fetching: through the outbound address guard, redirects followed one hop at a
time and each hop checked again, one deadline for the whole fetch, a size cap, text-like
types only, and the readable result kept for a few minutes in a small in-process cache."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from shoal.net.outbound import (
    AddressRefused,
    OutboundError,
    OutboundTimeout,
    ResponseTooLarge,
    check_url,
)
from shoal.tools.base import ToolError
from shoal.tools.web.readable import (
    HTML_TYPES,
    Format,
    decode,
    is_readable,
    looks_like_html,
    media_type,
    readable_html,
)

if TYPE_CHECKING:
    from shoal.config import WebToolSettings
    from shoal.net.outbound import Outbound, OutboundResponse

REDIRECTS = frozenset({301, 302, 303, 307, 308})
CACHE_ENTRIES = 128
USER_AGENT = "Shoal web_fetch"
ACCEPT = "text/html,application/xhtml+xml,text/plain;q=0.9,application/json;q=0.9,*/*;q=0.5"


@dataclass(frozen=True)
class Page:
    """A fetched page as the model reads it: where it ended up, its title, its text."""

    url: str
    title: str
    text: str


class PageFetcher:
    """Fetches pages for web_fetch under the operator's outbound policy and web settings."""

    def __init__(self, outbound: Outbound, settings: WebToolSettings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.outbound = outbound
        self.settings = settings
        self.clock = clock
        self._cache: OrderedDict[tuple[str, Format], tuple[float, Page]] = OrderedDict()

    async def fetch(self, url: str, form: Format) -> Page:
        """The page at `url`, readable, from the cache when fetched lately; ToolError says
        why it cannot be had."""
        key = (url, form)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > self.clock():
            self._cache.move_to_end(key)
            return cached[1]
        page = await self._fetch(url, form)
        if self.settings.cache_seconds > 0:
            self._cache[key] = (self.clock() + self.settings.cache_seconds, page)
            self._cache.move_to_end(key)
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return page

    async def _fetch(self, url: str, form: Format) -> Page:
        limit = self.settings.fetch_timeout_seconds
        deadline = self.clock() + limit
        current = url
        for hop in range(self.settings.fetch_max_redirects + 1):
            left = deadline - self.clock()
            if left <= 0:
                raise ToolError(f"the page did not load within {limit:g} seconds")
            answer = await self._get(current, hop, left)
            location = answer.headers.get("location")
            if answer.status not in REDIRECTS or not location:
                return await self._page(current, answer, form)
            try:
                current = str(httpx.URL(current).join(location))
            except httpx.InvalidURL:
                raise ToolError(f"{check_url(current)} redirected to an invalid URL") from None
        raise ToolError(f"the page redirected more than {self.settings.fetch_max_redirects} "
                        "times; fetch the address it should end at instead")

    async def _get(self, url: str, hop: int, left: float) -> OutboundResponse:
        try:
            return await self.outbound.request(
                "GET", url, headers={"user-agent": USER_AGENT, "accept": ACCEPT},
                timeout=left, max_bytes=self.settings.fetch_max_bytes, inspect=_text_only)
        except AddressRefused:
            origin = _origin(url)
            if origin is None and hop:
                raise ToolError("the page redirected to a URL that is not http:// or https://, "
                                "which web_fetch does not follow") from None
            if origin is None:
                raise ToolError("web_fetch takes an http:// or https:// URL with a host name, "
                                "like https://example.com/page") from None
            where = f"the page redirected to {origin}, which" if hop else f"{origin}"
            raise ToolError(f"{where} is a private, loopback or other internal address, "
                            "which web_fetch may not reach") from None
        except OutboundTimeout:
            raise ToolError("the page did not load within "
                            f"{self.settings.fetch_timeout_seconds:g} seconds") from None
        except ResponseTooLarge:
            raise ToolError(f"the page is larger than {self.settings.fetch_max_bytes:,} bytes, "
                            "more than web_fetch reads") from None
        except OutboundError as exc:
            raise ToolError(exc.message) from None

    async def _page(self, url: str, answer: OutboundResponse, form: Format) -> Page:
        if answer.status >= 400:
            reason = httpx.codes.get_reason_phrase(answer.status)
            raise ToolError(f"{check_url(url)} answered HTTP {answer.status}"
                            f"{f' ({reason})' if reason else ''} for that page")
        content_type = answer.headers.get("content-type", "")
        media = media_type(content_type)
        if media in HTML_TYPES or (not media and looks_like_html(answer.body)):
            title, text = await asyncio.to_thread(readable_html, answer.body, content_type,
                                                  url, form)
            return Page(url, title, text)
        return Page(url, "", decode(answer.body, content_type).strip())


def _text_only(status: int, headers: httpx.Headers) -> None:
    # Refused before the body is read: a video is not downloaded only to be turned away.
    media = media_type(headers.get("content-type", ""))
    if status < 300 and not is_readable(media):
        raise ToolError(f"the page is {media}, which web_fetch does not read; it reads HTML, "
                        "text, JSON and XML")


def _origin(url: str) -> str | None:
    try:
        return check_url(url)
    except AddressRefused:
        return None
