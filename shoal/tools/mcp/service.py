"""The process's MCP client manager and the `ToolSource` of MCP tools.

Each process keeps its own sessions (one per server, reused by every call, reconnected after a
failure); the tool list of a house's server is cached in the database, so every process offers
the same tools. A server that is down leaves its tools out with the reason, and is tried again
after `retry_seconds`; a server saying its list changed is listed again at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import mcp.types as types
from mcp.shared.exceptions import MCPError
from sqlalchemy import select

from shoal.errors import NotFound, UpstreamError
from shoal.net.outbound import OutboundPolicy
from shoal.store.tables import utcnow
from shoal.tools.base import Tool, ToolError, ToolList, ToolScope
from shoal.tools.mcp.config import MCPConfig, OperatorServer
from shoal.tools.mcp.connection import Connection, Endpoint, Unreachable
from shoal.tools.mcp.tables import McpServer

if TYPE_CHECKING:
    from shoal.config import Settings
    from shoal.crypto import SecretBox
    from shoal.store import Database

log = logging.getLogger("shoal.mcp")

MAX_TOOL_NAME = 64
MAX_DESCRIPTION = 1024
UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def tool_name(server: str, tool: str) -> str:
    """`<server>__<tool>` in the characters every provider accepts, at most 64 long; a longer
    name keeps its start and a short hash of the whole, so two never collide."""
    name = UNSAFE.sub("_", f"{server}__{tool}")
    if len(name) <= MAX_TOOL_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:MAX_TOOL_NAME - 9]}_{digest}"


def result_text(result: types.CallToolResult) -> str:
    """A tool's answer as text: its text blocks, a note for each other block, and its
    structured content as JSON."""
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, types.TextContent):
            parts.append(block.text)
        elif isinstance(block, types.EmbeddedResource) and isinstance(
                block.resource, types.TextResourceContents):
            parts.append(block.resource.text)
        elif isinstance(block, types.ResourceLink):
            parts.append(f"[resource {block.uri}]")
        else:
            parts.append(f"[{block.type} content, not shown]")
    if result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts)


@dataclass
class Server:
    """A server as the manager sees it, from a house's row or the configuration."""

    name: str
    endpoint: Endpoint
    version: str  # changes when the row does: its session is then opened anew
    enabled: bool = True
    row_id: str | None = None  # None: an operator's server
    tools: list[dict[str, Any]] = field(default_factory=list)
    state: str = "unknown"
    last_error: str | None = None
    tools_at: datetime | None = None
    checked_at: datetime | None = None

    @property
    def key(self) -> str:
        """Who the session belongs to: the row, or the operator's name."""
        return self.row_id or f"operator:{self.name}"


@dataclass(frozen=True)
class Check:
    """What `shoal mcp check` says."""

    reachable: bool
    tools: list[str]
    seconds: float
    error: str | None = None


def listing(tools: list[types.Tool]) -> list[dict[str, Any]]:
    """Tools as they are cached: name, description, input schema."""
    return [{"name": t.name, "description": (t.description or t.title or "")[:MAX_DESCRIPTION],
             "input_schema": t.input_schema} for t in tools]


class ServerDown(ToolError):
    """A server could not be reached or listed; `refused`: the outbound guard refused it."""

    def __init__(self, message: str, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


class MCPService:
    """Sessions with MCP servers, the tools they offer, and calls to them."""

    def __init__(self, db: Database, secrets: SecretBox, config: MCPConfig,
                 policy: Callable[[], OutboundPolicy], clock: Callable[[], datetime] = utcnow
                 ) -> None:
        self.db = db
        self.secrets = secrets
        self.config = config
        self.outbound = policy  # asked at each connection: the operator's current policy
        self.clock = clock
        self._sessions: dict[str, tuple[str, Connection]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._operator = {name: self._operator_server(name, spec)
                          for name, spec in config.servers.items()}
        self._background: set[asyncio.Task[None]] = set()

    @classmethod
    def from_settings(cls, db: Database, secrets: SecretBox, settings: Settings) -> MCPService:
        """The manager as a process builds it: the `[mcp]` table, the operator's outbound
        policy read at each connection (InvalidInput if the table is wrong)."""
        return cls(db, secrets, MCPConfig.parse(settings.mcp),
                   lambda: OutboundPolicy.from_settings(settings))

    # -- servers ---------------------------------------------------------------------------

    def _operator_server(self, name: str, spec: OperatorServer) -> Server:
        if spec.command:
            endpoint = Endpoint(name, "stdio", command=tuple(spec.command), env=spec.env,
                                guarded=False)
        else:
            endpoint = Endpoint(name, spec.transport or "streamable_http", url=spec.url or "",
                                headers=spec.headers, guarded=False)
        return Server(name, endpoint, "config", enabled=spec.enabled)

    def operator_names(self, house_id: str) -> set[str]:
        """The names the operator's servers take in this house."""
        return {name for name, spec in self.config.servers.items() if spec.serves(house_id)}

    def house_server(self, row: McpServer) -> Server:
        """A house's server from its row; its headers are opened here and nowhere else."""
        headers = json.loads(self.secrets.decrypt(row.headers)) if row.headers else {}
        endpoint = Endpoint(row.name, row.transport, url=row.url, headers=headers)
        return Server(row.name, endpoint, row.updated_at.isoformat(), row.enabled, row.id,
                      list(row.tools or []), row.state, row.last_error, row.tools_at,
                      row.checked_at)

    async def servers(self, house_id: str) -> list[Server]:
        """The house's servers, then the operator's that serve it, by name."""
        async with self.db.read() as session:
            rows = (await session.scalars(select(McpServer).where(
                McpServer.house_id == house_id).order_by(McpServer.name))).all()
        found = [self.house_server(row) for row in rows]
        found += [self._operator[name] for name in sorted(self.operator_names(house_id))]
        return found

    async def server(self, house_id: str, name: str) -> Server:
        """One server of the house by name, or NotFound."""
        for server in await self.servers(house_id):
            if server.name == name.lower():
                return server
        raise NotFound(f"this house has no MCP server named {name!r}")

    # -- the tool source -------------------------------------------------------------------

    async def tools(self, scope: ToolScope) -> ToolList:
        """Every enabled server's tools; a server that is down or off is named with why."""
        found = ToolList()
        for server in await self.servers(scope.house_id):
            if not server.enabled:
                found.unavailable[server.name] = "turned off by the house's owners"
                continue
            try:
                listed = await self.listed(server)
            except ToolError as exc:
                found.unavailable[server.name] = exc.message
                continue
            found.tools += [self._tool(server, spec) for spec in listed]
        return found

    def _tool(self, server: Server, spec: dict[str, Any]) -> Tool:
        original = str(spec["name"])

        async def run(arguments: dict[str, Any]) -> str:
            return await self.call(server, original, arguments)

        schema = spec.get("input_schema") or {}
        if schema.get("type") != "object":
            schema = {"type": "object", "properties": {}}
        description = spec.get("description") or f"{original} on the MCP server {server.name}"
        return Tool(tool_name(server.name, original), description, schema,
                    ("mcp", f"mcp:{server.name}"), run)

    async def listed(self, server: Server) -> list[dict[str, Any]]:
        """The server's tools: the cached list while fresh, else listed again now;
        ToolError says why a server has none to offer."""
        now = self.clock()
        ttl = timedelta(seconds=self.config.tools_ttl_seconds)
        if server.state == "ready" and server.tools_at is not None \
                and now - server.tools_at < ttl:
            return server.tools
        if server.state == "error" and server.checked_at is not None \
                and now - server.checked_at < timedelta(seconds=self.config.retry_seconds):
            raise ToolError(server.last_error or "unreachable")
        return await self.refresh(server)

    async def refresh(self, server: Server) -> list[dict[str, Any]]:
        """List the server's tools now and cache them; ServerDown (and the state kept) if it
        cannot be reached."""
        try:
            tools = await self.probe(server)
        except ServerDown as exc:
            await self._record(server, state="error", last_error=exc.message)
            raise
        await self._record(server, state="ready", last_error=None, tools=tools,
                           tools_at=self.clock())
        return tools

    async def probe(self, server: Server) -> list[dict[str, Any]]:
        """List the server's tools now, keeping nothing; ServerDown says why it failed."""
        try:
            connection = await self._connection(server)
            return listing(await connection.list_tools(self.config.call_timeout_seconds))
        except (Unreachable, MCPError, TimeoutError) as exc:
            refused = isinstance(exc, Unreachable) and exc.refused
            raise ServerDown(_why(exc, server, self.config.call_timeout_seconds),
                             refused) from None

    async def save_listing(self, server: Server, transport: str,
                           tools: list[dict[str, Any]] | None, error: str | None) -> None:
        """Keep what registering found: the transport that answered, and its tools or why
        there are none."""
        server.endpoint = replace(server.endpoint, transport=transport)
        await self._record(server, state="error" if tools is None else "ready",
                           last_error=error if tools is None else None, tools=tools or [],
                           tools_at=None if tools is None else self.clock())
        if server.row_id is not None:
            async with self.db.write() as session:
                row = await session.get(McpServer, server.row_id)
                if row is not None and row.updated_at.isoformat() == server.version:
                    row.transport = transport

    async def _record(self, server: Server, **changes: Any) -> None:
        changes["checked_at"] = self.clock()
        for name, value in changes.items():
            setattr(server, name, value)
        if server.row_id is None:
            if server.name in self._operator:
                self._operator[server.name] = server
            return
        async with self.db.write() as session:
            row = await session.get(McpServer, server.row_id)
            if row is not None and row.updated_at.isoformat() == server.version:
                for name, value in changes.items():
                    setattr(row, name, value)

    # -- sessions --------------------------------------------------------------------------

    async def _connection(self, server: Server) -> Connection:
        lock = self._locks.setdefault(server.key, asyncio.Lock())
        async with lock:
            held = self._sessions.get(server.key)
            if held is not None and held[0] == server.version and held[1].alive:
                return held[1]
            if held is not None:
                await held[1].close()
            connection = Connection(server.endpoint, self.outbound(),
                                    self.config.connect_timeout_seconds,
                                    lambda: self._tools_changed(server))
            self._sessions[server.key] = (server.version, connection)
            await connection.open()
            return connection

    def _tools_changed(self, server: Server) -> None:
        # Called from the session's own task: list again in a task of our own.
        log.info("MCP server %s says its tools changed", server.name)

        async def again() -> None:
            with contextlib.suppress(ToolError):
                await self.refresh(server)

        task = asyncio.create_task(again())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def forget(self, server_key: str) -> None:
        """Close the session with a server that was removed or changed."""
        held = self._sessions.pop(server_key, None)
        if held is not None:
            await held[1].close()

    async def close(self) -> None:
        """Close every session (at shutdown)."""
        for key in list(self._sessions):
            await self.forget(key)
        for task in list(self._background):
            task.cancel()

    # -- calls -----------------------------------------------------------------------------

    async def call(self, server: Server, tool: str, arguments: dict[str, Any]) -> str:
        """Call one tool; its answer as text, or ToolError the model can read."""
        timeout = self.config.call_timeout_seconds
        for attempt in (1, 2):
            reused = self._has_session(server)
            try:
                connection = await self._connection(server)
                result = await connection.call(tool, arguments, timeout)
            except Unreachable as exc:
                if reused and attempt == 1:
                    continue  # the session went stale (the server restarted): once more, anew
                why = _why(exc, server, timeout)
                await self._record(server, state="error", last_error=why)
                raise ToolError(why) from None
            except (MCPError, TimeoutError) as exc:
                raise ToolError(_why(exc, server, timeout, tool)) from None
            if result.is_error:
                raise ToolError(result_text(result) or f"{tool} failed")
            return result_text(result)
        raise AssertionError("unreachable")

    def _has_session(self, server: Server) -> bool:
        held = self._sessions.get(server.key)
        return held is not None and held[0] == server.version and held[1].alive

    async def check(self, server: Server) -> Check:
        """Reach the server now and list its tools: what `shoal mcp check` shows."""
        started = time.perf_counter()
        try:
            tools = await self.refresh(replace(server, state="unknown"))
        except ToolError as exc:
            return Check(False, [], time.perf_counter() - started, exc.message)
        return Check(True, [t["name"] for t in tools], time.perf_counter() - started)

    # -- what the /mcp command uses --------------------------------------------------------

    async def run_tool(self, house_id: str, server_name: str, tool: str,
                       arguments: dict[str, Any]) -> str:
        """Call a tool of one of the house's servers by its own name; UpstreamError says why
        it failed."""
        server = await self.server(house_id, server_name)
        if not server.enabled:
            raise UpstreamError(f"the MCP server {server.name} is turned off")
        try:
            return await self.call(server, tool, arguments)
        except ToolError as exc:
            raise UpstreamError(f"{server.name} {tool}: {exc.message}") from None

    async def overview(self, house_id: str) -> list[tuple[str, str, list[str]]]:
        """Each server of the house: its name, its state (or why it is down), its tools."""
        found: list[tuple[str, str, list[str]]] = []
        for server in await self.servers(house_id):
            if not server.enabled:
                found.append((server.name, "turned off", []))
                continue
            try:
                tools = [t["name"] for t in await self.listed(server)]
            except ToolError as exc:
                found.append((server.name, f"unavailable: {exc.message}", []))
                continue
            found.append((server.name, "ready", tools))
        return found


def _why(error: Exception, server: Server, timeout: float, tool: str | None = None) -> str:
    what = f"{server.name} {tool}" if tool else f"the MCP server {server.name}"
    if isinstance(error, TimeoutError):
        return f"{what} did not answer within {timeout:g} s"
    if isinstance(error, MCPError):
        return f"{what}: {error.error.message}"
    return f"the MCP server {server.name} is unreachable: {error}"
