"""A house's own slash commands, registered by its owners: `/api/custom-commands/{agencyId}`.
The contract names a room (agency); any room of the house, or the house id itself, will do."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.api.deps import PrincipalDep, ShoalDep
from shoal.api.openapi import errors
from shoal.commands.manage import (
    MAX_DESCRIPTION,
    MAX_SECRET,
    MAX_URL,
    MAX_WHITELIST,
    CommandFields,
    Rules,
    command_view,
    create_command,
    get_command,
    house_commands,
    update_command,
)
from shoal.core import Shoal
from shoal.errors import NotFound
from shoal.net.outbound import OutboundPolicy
from shoal.rooms.access import Action, authorize, authorize_house, room_access
from shoal.store.tables import House, Room

router = APIRouter(prefix="/api/custom-commands", tags=["custom commands"])

Permission = Literal["open", "closed", "whitelist"]


class CommandBody(BaseModel):
    name: str = Field(max_length=64)
    webhook_url: str = Field(max_length=MAX_URL)
    description: str = Field("", max_length=MAX_DESCRIPTION)
    invoke_permission: Permission = "open"
    invoke_whitelist: list[str] = Field(default_factory=list, max_length=MAX_WHITELIST)
    secret: str | None = Field(None, max_length=MAX_SECRET)


class CommandUpdateBody(BaseModel):
    name: str | None = Field(None, max_length=64)
    webhook_url: str | None = Field(None, max_length=MAX_URL)
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)
    invoke_permission: Permission | None = None
    invoke_whitelist: list[str] | None = Field(None, max_length=MAX_WHITELIST)
    secret: str | None = Field(None, max_length=MAX_SECRET)  # null or "" removes it


async def owned_house(session: AsyncSession, user_id: str, agency_id: str) -> str:
    """The house of the room (or the house) named, if the caller owns it; NotFound for
    those who may not see it, Forbidden for members below owner."""
    if await session.get(Room, agency_id) is not None:
        access = await room_access(session, user_id, agency_id)
        authorize(access, Action.READ)
        authorize(access, Action.MANAGE_HOUSE)
        return access.house_id
    if await session.get(House, agency_id) is None:
        raise NotFound("room not found")
    await authorize_house(session, user_id, agency_id, Action.MANAGE_HOUSE)
    return agency_id


def rules(shoal: Shoal) -> Rules:
    """The process's registry, secret box and outbound policy."""
    return Rules(shoal.commands, shoal.secrets, OutboundPolicy.from_settings(shoal.settings))


@router.get("/{agency_id}/commands")
async def list_commands(agency_id: str, principal: PrincipalDep, shoal: ShoalDep
                        ) -> list[dict[str, Any]]:
    """The house's own commands, by name (its owners)."""
    async with shoal.db.read() as session:
        house_id = await owned_house(session, principal.id, agency_id)
        return [command_view(row) for row in await house_commands(session, house_id)]


@router.post("/{agency_id}/commands", status_code=201, responses=errors(409))
async def new_command(agency_id: str, body: CommandBody, principal: PrincipalDep,
                      shoal: ShoalDep) -> dict[str, Any]:
    """Register a command in the house; `/name` then runs it in every room of the house."""
    fields = CommandFields(body.name, body.webhook_url, body.description,
                           body.invoke_permission, body.invoke_whitelist, body.secret)
    async with shoal.db.write() as session:
        house_id = await owned_house(session, principal.id, agency_id)
        row = await create_command(session, house_id, fields, rules(shoal), principal.id)
        view = command_view(row)
    shoal.commands.house_changed(house_id)
    return view


@router.patch("/{agency_id}/commands/{command_id}", responses=errors(409))
async def change_command(agency_id: str, command_id: str, body: CommandUpdateBody,
                         principal: PrincipalDep, shoal: ShoalDep) -> dict[str, Any]:
    """Change a command's name, webhook, description, permission, whitelist or secret."""
    secret = body.secret
    if "secret" in body.model_fields_set and secret is None:
        secret = ""
    fields = CommandFields(body.name, body.webhook_url, body.description,
                           body.invoke_permission, body.invoke_whitelist, secret)
    async with shoal.db.write() as session:
        house_id = await owned_house(session, principal.id, agency_id)
        row = await get_command(session, house_id, command_id)
        await update_command(session, row, fields, rules(shoal))
        view = command_view(row)
    shoal.commands.house_changed(house_id)
    return view


@router.delete("/{agency_id}/commands/{command_id}")
async def remove_command(agency_id: str, command_id: str, principal: PrincipalDep,
                         shoal: ShoalDep) -> dict[str, Any]:
    """Remove a command from the house."""
    async with shoal.db.write() as session:
        house_id = await owned_house(session, principal.id, agency_id)
        row = await get_command(session, house_id, command_id)
        await session.delete(row)
    shoal.commands.house_changed(house_id)
    return {"ok": True, "id": command_id}
