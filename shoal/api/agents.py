"""Bots ("agents" on the wire): creation, verification, configuration, deletion."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from shoal.agents.config import load_config
from shoal.agents.editing import edit_bot_config
from shoal.api.agencies import home_house_id
from shoal.api.deps import PrincipalDep, ShoalDep
from shoal.api.openapi import NOT_BLANK, checked, errors
from shoal.auth.accounts import MAX_DISPLAY_NAME, check_bot_name, create_bot, user_view
from shoal.auth.tokens import Principal, issue_token, revoke_tokens_of
from shoal.core import Shoal
from shoal.errors import Forbidden, NotFound
from shoal.rooms.access import RANK, Action, authorize_house, authorize_room
from shoal.rooms.bindings import unbind_agent
from shoal.rooms.houses import add_house_member
from shoal.rooms.rooms import default_room
from shoal.store.tables import HouseMember, User, utcnow

router = APIRouter(prefix="/api/agents", tags=["agents"])


class CreateAgentBody(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=MAX_DISPLAY_NAME, pattern=NOT_BLANK),
                    checked(check_bot_name)]
    role: str | None = None
    agencyId: str | None = None
    houseId: str | None = None


def agent_view(bot: User) -> dict[str, Any]:
    """A bot as the contract lists it."""
    return {**user_view(bot), "role": bot.config.get("role"), "owner_id": bot.owner_id,
            "status": "deleted" if bot.deleted_at else ("active" if bot.verified else
                                                         "unverified")}


async def manageable_bot(shoal: Shoal, principal: Principal, bot_id: str) -> User:
    """A bot the caller may manage: they own it, or they are an admin of a house it is in."""
    async with shoal.db.read() as session:
        bot = await session.get(User, bot_id)
        if bot is None or bot.kind != "bot" or bot.deleted_at is not None:
            raise NotFound("agent not found")
        if bot.owner_id == principal.id:
            return bot
        roles = (await session.scalars(
            select(HouseMember.role).where(
                HouseMember.user_id == principal.id,
                HouseMember.house_id.in_(
                    select(HouseMember.house_id).where(HouseMember.user_id == bot.id)),
            )
        )).all()
    if any(RANK[r] >= RANK["admin"] for r in roles):
        return bot
    if roles:
        raise Forbidden("only the agent's owner or a house admin may do that")
    raise NotFound("agent not found")


@router.post("", status_code=201, responses=errors(404))
async def create_agent(body: CreateAgentBody, principal: PrincipalDep, shoal: ShoalDep
                       ) -> dict[str, Any]:
    """Create a bot owned by the caller, in the room `agencyId` names, else in the house's
    default room (its oldest public room); its token is in this answer only. The bot starts
    unverified."""
    if body.agencyId:
        async with shoal.db.read() as session:
            access = await authorize_room(session, principal.id, body.agencyId, Action.POST)
        house_id = access.house_id
    else:
        house_id = await home_house_id(shoal, principal.id, body.houseId)
    async with shoal.db.write() as session:
        await authorize_house(session, principal.id, house_id, Action.CREATE_ROOM)
        bot = await create_bot(session, body.name, principal.id)
        if body.role:
            bot.config = {"role": body.role[:200]}
        await add_house_member(session, house_id, bot, "member")
        _, token = await issue_token(session, bot.id, "bot", name="agent token")
        room = access.room if body.agencyId else await default_room(session, house_id)
    if room is not None:
        await shoal.membership.add_member(room, bot.id)
    return {"agent": agent_view(bot), "agentToken": token}


@router.get("")
async def list_agents(principal: PrincipalDep, shoal: ShoalDep) -> list[dict[str, Any]]:
    """The bots the caller owns."""
    async with shoal.db.read() as session:
        bots = (await session.scalars(
            select(User).where(User.owner_id == principal.id, User.kind == "bot",
                               User.deleted_at.is_(None)).order_by(User.created_at)
        )).all()
    return [agent_view(b) for b in bots]


@router.post("/{agent_id}/verify")
async def verify_agent(agent_id: str, principal: PrincipalDep, shoal: ShoalDep
                       ) -> dict[str, Any]:
    """The bot's owner or a house admin vouches for it, so its token opens Shoal."""
    bot = await manageable_bot(shoal, principal, agent_id)
    async with shoal.db.write() as session:
        row = await session.get(User, bot.id)
        assert row is not None
        row.verified = True
    return {"ok": True, "agent": agent_view(row)}


@router.get("/{agent_id}/config")
async def get_config(agent_id: str, principal: PrincipalDep, shoal: ShoalDep
                     ) -> dict[str, Any]:
    """The bot's configuration; secrets only say whether they are set."""
    bot = await manageable_bot(shoal, principal, agent_id)
    return {"config": load_config(bot.config).view()}


@router.patch("/{agent_id}/config")
async def update_config(agent_id: str, body: dict[str, Any], principal: PrincipalDep,
                        shoal: ShoalDep) -> dict[str, Any]:
    """Change configuration keys (Shoal's names or the contract's `personality` and
    `ollama_model`); null resets one. The next activation uses the new values."""
    await manageable_bot(shoal, principal, agent_id)
    config = await edit_bot_config(shoal.db, shoal.secrets, shoal.models.catalog, agent_id,
                                   body, shoal.models.outbound)
    return {"config": config.view()}


@router.post("/{agent_id}/tokens", status_code=201)
async def new_agent_token(agent_id: str, principal: PrincipalDep, shoal: ShoalDep
                          ) -> dict[str, Any]:
    """Replace the bot's token: the old ones stop working, the new one is shown once."""
    bot = await manageable_bot(shoal, principal, agent_id)
    async with shoal.db.write() as session:
        revoked = await revoke_tokens_of(session, bot.id, ("bot", "agent"))
        row, token = await issue_token(session, bot.id, "bot", name="agent token")
    await shoal.gateway.disconnect_tokens(revoked)
    return {"id": row.id, "agentToken": token}


@router.delete("/{agent_id}")
async def delete_agent(agent_id: str, principal: PrincipalDep, shoal: ShoalDep
                       ) -> dict[str, Any]:
    """Delete a bot: its tokens stop working, its sockets close and the rooms bound to it are
    unbound; its messages stay."""
    bot = await manageable_bot(shoal, principal, agent_id)
    async with shoal.db.write() as session:
        row = await session.get(User, bot.id)
        assert row is not None
        row.deleted_at = utcnow()
        await unbind_agent(session, bot.id)
        revoked = await revoke_tokens_of(session, bot.id, ("bot", "agent", "session", "pat"))
    await shoal.gateway.disconnect_tokens(revoked)
    return {"ok": True}
