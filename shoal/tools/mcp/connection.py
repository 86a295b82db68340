"""One live session with one MCP server, held open by a task of its own so calls from any
activation share it; when the transport fails the session ends and the next use reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import httpx2
import mcp.types as types
from mcp import Client, StdioServerParameters, stdio_client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from shoal.net.httpx2_guard import guarded_httpx2_client
from shoal.net.outbound import AddressRefused, OutboundError, OutboundPolicy, check_url

log = logging.getLogger("shoal.mcp")

T = TypeVar("T")
CLOSE_TIMEOUT = 5.0  # ending a session politely (its DELETE) never holds a process up longer


class Unreachable(Exception):
    """The server could not be reached or stopped answering; the message says why, without
    the URL's path, query or headers. `refused`: the outbound guard refused its address."""

    def __init__(self, message: str, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


@dataclass(frozen=True)
class Endpoint:
    """Where a server is and how to talk to it. `guarded`: its address passes the outbound
    guard (a house's servers; an operator's are trusted). Headers never show in a repr."""

    name: str
    transport: str  # streamable_http | sse | stdio
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    command: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict, repr=False)
    guarded: bool = True

    @property
    def where(self) -> str:
        """What may be shown: the URL's origin, or the program run."""
        if self.transport == "stdio":
            return f"the command {self.command[0]}"
        try:
            return check_url(self.url)
        except OutboundError:
            return "its URL"


def _transport(endpoint: Endpoint, policy: OutboundPolicy, timeout: float
               ) -> AbstractAsyncContextManager[Any]:
    if endpoint.transport == "stdio":
        return stdio_client(StdioServerParameters(
            command=endpoint.command[0], args=list(endpoint.command[1:]),
            env=endpoint.env or None))
    if not endpoint.guarded:
        policy = OutboundPolicy(allow_private=True)
    http_timeout = httpx2.Timeout(timeout, read=300)

    def client(headers: dict[str, str] | None = None, timeout: httpx2.Timeout | None = None,
               auth: httpx2.Auth | None = None) -> httpx2.AsyncClient:
        return guarded_httpx2_client(policy, headers, timeout or http_timeout)

    if endpoint.transport == "sse":
        return sse_client(endpoint.url, headers=endpoint.headers, timeout=timeout,
                          httpx_client_factory=client)
    return _owned_client_transport(endpoint.url, client(endpoint.headers))


@asynccontextmanager
async def _owned_client_transport(url: str, http: httpx2.AsyncClient
                                  ) -> AsyncIterator[Any]:
    # streamable_http_client leaves a client it was given open; this one is ours to close.
    async with http, streamable_http_client(url, http_client=http) as streams:
        yield streams


class Connection:
    """A session with one server. `open()` connects (or says why not); `call` and `list_tools`
    use the session from any task; `close()` ends it. `on_tools_changed` runs when the server
    says its tool list changed."""

    def __init__(self, endpoint: Endpoint, policy: OutboundPolicy, connect_timeout: float,
                 on_tools_changed: Callable[[], None]) -> None:
        self.endpoint = endpoint
        self.policy = policy
        self.connect_timeout = connect_timeout
        self.on_tools_changed = on_tools_changed
        self.client: Client | None = None
        self.error: str | None = None
        self.refused = False
        self._ready = asyncio.Event()
        self._closing = asyncio.Event()
        self._holder: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        """Whether the session is up (or still connecting)."""
        return self._holder is not None and not self._holder.done()

    async def open(self) -> None:
        """Connect and hold the session; Unreachable if that fails or takes too long."""
        self._holder = asyncio.create_task(self._hold(), name=f"mcp:{self.endpoint.name}")
        try:
            async with asyncio.timeout(self.connect_timeout):
                await self._ready.wait()
        except TimeoutError:
            await self.close()
            raise Unreachable(f"{self.endpoint.where} did not answer within "
                              f"{self.connect_timeout:g} s") from None
        if self.client is None:
            raise Unreachable(self.error or f"could not connect to {self.endpoint.where}",
                              self.refused)

    async def _hold(self) -> None:
        try:
            transport = _transport(self.endpoint, self.policy, self.connect_timeout)
            async with Client(transport, message_handler=self._incoming) as client:
                self.client = client
                self._ready.set()
                listener = (asyncio.create_task(self._listen(client))
                            if client.protocol_version in MODERN_PROTOCOL_VERSIONS else None)
                try:
                    await self._closing.wait()
                finally:
                    if listener is not None:
                        listener.cancel()
                        with contextlib.suppress(BaseException):
                            await listener
        except BaseException as exc:  # a transport failure ends the session, never a raise
            self.error = describe(exc)
            self.refused = any(isinstance(e, AddressRefused) for e in _leaves(exc))
            if not self._closing.is_set():
                log.warning("MCP server %s: session ended: %s", self.endpoint.name, self.error)
        finally:
            self.client = None
            self._ready.set()

    async def _listen(self, client: Client) -> None:
        # Servers speaking the 2026 protocol send list changes only on a listen stream; the
        # events also reach the message handler, which acts on them.
        with contextlib.suppress(Exception):
            async with client.listen(tools_list_changed=True) as events:
                async for _ in events:
                    pass

    async def _incoming(self, message: types.ServerNotification | Exception) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self.on_tools_changed()

    async def list_tools(self, timeout: float) -> list[types.Tool]:
        """Every tool the server lists, following its pages."""
        tools: list[types.Tool] = []
        cursor: str | None = None
        for _ in range(100):  # a server paging forever is cut off
            page = await self._request(
                partial(Client.list_tools, cursor=cursor, cache_mode="refresh"), timeout)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if cursor is None:
                break
        return tools

    async def call(self, name: str, arguments: dict[str, Any], timeout: float
                   ) -> types.CallToolResult:
        """Call a tool; Unreachable if the session fails, TimeoutError if too slow, MCPError
        if the server refuses the call."""
        return await self._request(lambda c: c.call_tool(name, arguments), timeout)

    async def _request(self, send: Callable[[Client], Awaitable[T]], timeout: float) -> T:
        client, holder = self.client, self._holder
        if client is None or holder is None or holder.done():
            raise Unreachable(self.error or f"the session with {self.endpoint.where} ended")
        request = asyncio.ensure_future(send(client))
        done, _ = await asyncio.wait({request, holder}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if request in done:
            try:
                return request.result()
            except MCPError as exc:
                if exc.error.code != CONNECTION_CLOSED:
                    raise
                raise Unreachable(f"{self.endpoint.where} closed the connection") from None
        request.cancel()
        with contextlib.suppress(BaseException):
            await request
        if holder in done:
            raise Unreachable(self.error or f"the session with {self.endpoint.where} ended")
        raise TimeoutError

    async def close(self) -> None:
        """End the session."""
        self._closing.set()
        if self._holder is not None and not self._holder.done():
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await asyncio.shield(self._holder)
            except TimeoutError:
                self._holder.cancel()


def _leaves(error: BaseException) -> Iterator[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaves(inner)
    else:
        yield error


def describe(error: BaseException) -> str:
    """What went wrong, in a sentence fit for a person or a model: never a URL's secrets."""
    for leaf in _leaves(error):
        if isinstance(leaf, OutboundError):
            return leaf.message
        if isinstance(leaf, httpx2.HTTPStatusError):
            return f"the server answered HTTP {leaf.response.status_code}"
        if isinstance(leaf, httpx2.ConnectError | httpx2.ConnectTimeout | OSError):
            return "could not connect to the server"
        if isinstance(leaf, httpx2.TimeoutException | TimeoutError):
            return "the server did not answer in time"
        if isinstance(leaf, MCPError):
            return f"the server refused: {leaf.error.message}"
        if isinstance(leaf, httpx2.HTTPError):
            return f"the connection failed ({type(leaf).__name__})"
    leaf = next(_leaves(error), error)
    return f"the session failed ({type(leaf).__name__})"
