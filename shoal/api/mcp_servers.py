"""A house's MCP servers, managed by its owners: `/api/houses/{id}/mcp-servers`. Registering
or changing a server reaches it at once and lists its tools; one that cannot be reached is
saved all the same, with its state and the reason. Header values are never answered."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from shoal.api.deps import PrincipalDep, ShoalDep
from shoal.api.openapi import errors
from shoal.core import Shoal
from shoal.rooms.access import Action, authorize_house
from shoal.tools.mcp.manage import (
    MAX_HEADERS,
    MAX_URL,
    ServerFields,
    all_views,
    create_server,
    get_server,
    reach,
    server_view,
    update_server,
)
from shoal.tools.mcp.tables import McpServer

router = APIRouter(prefix="/api/houses", tags=["mcp servers"])

Transport = Literal["streamable_http", "sse"]


class ServerBody(BaseModel):
    name: str = Field(max_length=64)
    url: str = Field(max_length=MAX_URL)
    headers: dict[str, str] | None = Field(None, max_length=MAX_HEADERS)
    enabled: bool = True
    transport: Transport | None = None


class ServerUpdateBody(BaseModel):
    name: str | None = Field(None, max_length=64)
    url: str | None = Field(None, max_length=MAX_URL)
    headers: dict[str, str] | None = Field(None, max_length=MAX_HEADERS)  # {} removes them
    enabled: bool | None = None
    transport: Transport | None = None


async def _reached(shoal: Shoal, row: McpServer, guess: bool) -> dict[str, Any]:
    await reach(shoal.mcp, row, guess)
    async with shoal.db.read() as session:
        saved = await session.get(McpServer, row.id)
        return server_view(saved if saved is not None else row)


@router.get("/{house_id}/mcp-servers")
async def list_servers(house_id: str, principal: PrincipalDep, shoal: ShoalDep
                       ) -> list[dict[str, Any]]:
    """The house's servers, then those the server's configuration gives it (its owners)."""
    async with shoal.db.read() as session:
        await authorize_house(session, principal.id, house_id, Action.MANAGE_HOUSE)
    return await all_views(shoal.mcp, house_id)


@router.post("/{house_id}/mcp-servers", status_code=201, responses=errors(409))
async def new_server(house_id: str, body: ServerBody, principal: PrincipalDep,
                     shoal: ShoalDep) -> dict[str, Any]:
    """Register a server, reach it and list its tools."""
    fields = ServerFields(body.name, body.url, body.headers or {}, body.enabled, body.transport)
    async with shoal.db.write() as session:
        await authorize_house(session, principal.id, house_id, Action.MANAGE_HOUSE)
        row = await create_server(session, house_id, fields, shoal.mcp, principal.id)
    return await _reached(shoal, row, guess=body.transport is None)


@router.patch("/{house_id}/mcp-servers/{server_id}", responses=errors(409))
async def change_server(house_id: str, server_id: str, body: ServerUpdateBody,
                        principal: PrincipalDep, shoal: ShoalDep) -> dict[str, Any]:
    """Change a server's name, URL, headers, transport or whether it is on; it is reached
    again at once."""
    fields = ServerFields(body.name, body.url, body.headers, body.enabled, body.transport)
    async with shoal.db.write() as session:
        await authorize_house(session, principal.id, house_id, Action.MANAGE_HOUSE)
        row = await get_server(session, house_id, server_id)
        await update_server(session, row, fields, shoal.mcp)
    return await _reached(shoal, row, guess=False)


@router.delete("/{house_id}/mcp-servers/{server_id}")
async def remove_server(house_id: str, server_id: str, principal: PrincipalDep,
                        shoal: ShoalDep) -> dict[str, Any]:
    """Remove a server; its tools leave every agent's list."""
    async with shoal.db.write() as session:
        await authorize_house(session, principal.id, house_id, Action.MANAGE_HOUSE)
        row = await get_server(session, house_id, server_id)
        await session.delete(row)
    await shoal.mcp.forget(server_id)
    return {"ok": True, "id": server_id}
