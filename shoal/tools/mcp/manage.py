"""Registering, changing and removing a house's MCP servers: the rules the API and the CLI
share. Registering connects and lists the server's tools; a server that cannot be reached is
still saved, with its state and the reason, and is tried again when agents next need it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from shoal.errors import Conflict, InvalidInput, NotFound, ShoalError
from shoal.net.outbound import check_destination
from shoal.store.tables import iso, utcnow
from shoal.tools.mcp.config import NAME_RULE, SERVER_NAME
from shoal.tools.mcp.service import ServerDown
from shoal.tools.mcp.tables import McpServer

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from shoal.tools.mcp.service import MCPService, Server

TRANSPORTS = ("streamable_http", "sse")
MAX_PER_HOUSE = 20
MAX_URL = 2000
MAX_HEADERS = 20
MAX_HEADER_VALUE = 4000
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")


@dataclass
class ServerFields:
    """What a registration or an update sets; None leaves a field as it is. `headers` replaces
    every header (an empty object removes them); `transport` None guesses on registration."""

    name: str | None = None
    url: str | None = None
    headers: dict[str, str] | None = None
    enabled: bool | None = None
    transport: str | None = None


def check_name(name: str, taken_by_operator: set[str]) -> str:
    """The server's name in lower case, or InvalidInput / Conflict saying what is wrong."""
    name = name.strip().lower()
    if not SERVER_NAME.match(name):
        raise InvalidInput(f"an MCP server's name is {NAME_RULE} (like github or files)")
    if name in taken_by_operator:
        raise Conflict(f"the server's configuration already declares an MCP server {name}")
    return name


def check_headers(headers: dict[str, str]) -> dict[str, str]:
    """Header names as HTTP allows, values on one line."""
    if len(headers) > MAX_HEADERS:
        raise InvalidInput(f"headers holds at most {MAX_HEADERS} headers")
    for name, value in headers.items():
        if not HEADER_NAME.match(name):
            raise InvalidInput(f"headers: {name[:40]!r} is not a header name")
        if not isinstance(value, str) or len(value) > MAX_HEADER_VALUE \
                or any(ch in value for ch in "\r\n\0"):
            raise InvalidInput(f"headers: the value of {name} must be text on one line of at "
                               f"most {MAX_HEADER_VALUE} characters")
    return dict(headers)


def check_server_url(url: str, service: MCPService) -> str:
    """An http(s) URL the outbound policy lets Shoal call (a host name is checked again at
    every connection, when it is resolved)."""
    url = url.strip()
    if not url or len(url) > MAX_URL or any(ch.isspace() for ch in url):
        raise InvalidInput(f"url must be an http(s) URL of at most {MAX_URL} characters, "
                           "without spaces")
    try:
        check_destination(url, service.outbound(), "url")
    except ShoalError as exc:
        raise InvalidInput(exc.message) from None
    return url


def guess_transport(url: str) -> str:
    """SSE for an endpoint named like one (`.../sse`), else streamable HTTP."""
    return "sse" if url.rstrip("/").endswith("/sse") else "streamable_http"


def _apply(row: McpServer, fields: ServerFields, service: MCPService) -> None:
    if fields.name is not None:
        row.name = check_name(fields.name, service.operator_names(row.house_id))
    if fields.url is not None:
        row.url = check_server_url(fields.url, service)
    if fields.headers is not None:
        headers = check_headers(fields.headers)
        row.headers = service.secrets.encrypt(json.dumps(headers)) if headers else None
        row.header_names = sorted(headers)
    if fields.enabled is not None:
        row.enabled = fields.enabled
    if fields.transport is not None:
        if fields.transport not in TRANSPORTS:
            raise InvalidInput(f"transport is one of {', '.join(TRANSPORTS)}")
        row.transport = fields.transport
    # A changed address or header means a new session and a new listing.
    row.state, row.last_error, row.tools_at, row.checked_at = "unknown", None, None, None


async def create_server(session: AsyncSession, house_id: str, fields: ServerFields,
                        service: MCPService, created_by: str | None) -> McpServer:
    """Register a server in the house (not yet reached: see `reach`)."""
    if fields.name is None or fields.url is None:
        raise InvalidInput("name and url are required")
    count = await session.scalar(select(func.count()).select_from(McpServer).where(
        McpServer.house_id == house_id))
    if (count or 0) >= MAX_PER_HOUSE:
        raise InvalidInput(f"a house has at most {MAX_PER_HOUSE} MCP servers; remove one first")
    row = McpServer(house_id=house_id, header_names=[], tools=[], enabled=True,
                    created_by=created_by)
    _apply(row, fields, service)
    if fields.transport is None:
        row.transport = guess_transport(row.url)
    row.updated_at = utcnow()
    session.add(row)
    await _flush(session, row.name)
    return row


async def update_server(session: AsyncSession, row: McpServer, fields: ServerFields,
                        service: MCPService) -> McpServer:
    """Change some fields of a server."""
    _apply(row, fields, service)
    row.updated_at = utcnow()
    await _flush(session, row.name)
    return row


async def reach(service: MCPService, row: McpServer, guess: bool) -> None:
    """Connect to a saved server and cache its tools, keeping its state either way. With
    `guess`, a server that does not answer the guessed transport is tried with the other."""
    server = service.house_server(row)
    await service.forget(server.key)
    if not server.enabled:
        return
    transport, tools, error = row.transport, None, None
    try:
        tools = await service.probe(server)
    except ServerDown as exc:
        error = exc.message
        if guess and not exc.refused:
            other = "sse" if transport == "streamable_http" else "streamable_http"
            try:
                tools = await service.probe(replace(
                    server, endpoint=replace(server.endpoint, transport=other),
                    version=f"{server.version}:{other}"))
                transport = other
            except ServerDown:
                pass
    await service.save_listing(server, transport, tools, error)


async def get_server(session: AsyncSession, house_id: str, server_id: str) -> McpServer:
    """A server of the house, or NotFound."""
    row = await session.get(McpServer, server_id)
    if row is None or row.house_id != house_id:
        raise NotFound("MCP server not found")
    return row


async def find_server(session: AsyncSession, house_id: str, name: str) -> McpServer:
    """A server of the house by name, or NotFound."""
    row = await session.scalar(select(McpServer).where(
        McpServer.house_id == house_id, McpServer.name == name.strip().lower()))
    if row is None:
        raise NotFound(f"this house has no MCP server {name.strip()!r}")
    return row


async def house_servers(session: AsyncSession, house_id: str) -> list[McpServer]:
    """The house's own servers, by name."""
    return list((await session.scalars(select(McpServer).where(
        McpServer.house_id == house_id).order_by(McpServer.name))).all())


async def all_views(service: MCPService, house_id: str) -> list[dict[str, Any]]:
    """The house's servers as shown, then those the configuration gives it."""
    async with service.db.read() as session:
        own = [server_view(row) for row in await house_servers(session, house_id)]
    return own + [operator_view(s) for s in await service.servers(house_id)
                  if s.row_id is None]


def server_view(row: McpServer) -> dict[str, Any]:
    """A house's server as the API shows it: header names, never their values."""
    return {"id": row.id, "name": row.name, "source": "house", "url": row.url,
            "transport": row.transport, "enabled": row.enabled, "state": row.state,
            "error": row.last_error, "tools": [t["name"] for t in row.tools or []],
            "header_names": list(row.header_names or []), "tools_at": iso(row.tools_at),
            "checked_at": iso(row.checked_at), "created_at": iso(row.created_at),
            "updated_at": iso(row.updated_at)}


def operator_view(server: Server) -> dict[str, Any]:
    """An operator's server as the API shows it: no address, no command, no headers."""
    return {"id": None, "name": server.name, "source": "operator", "url": None,
            "transport": server.endpoint.transport, "enabled": server.enabled,
            "state": server.state, "error": server.last_error,
            "tools": [t["name"] for t in server.tools], "header_names": [],
            "tools_at": iso(server.tools_at), "checked_at": iso(server.checked_at),
            "created_at": None, "updated_at": None}


async def _flush(session: AsyncSession, name: str) -> None:
    # Two owners registering the same name at once: the unique constraint decides.
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(f"this house already has an MCP server {name}") from None
