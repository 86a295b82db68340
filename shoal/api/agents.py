"""Bots ("agents" on the wire): creation, verification, configuration, deletion."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from shoal.api.agencies import home_house_id
from shoal.api.deps import PrincipalDep, ShoalDep
from shoal.auth.accounts import create_bot, user_view
from shoal.auth.tokens import Principal, issue_token, revoke_tokens_of
from shoal.core import Shoal
from shoal.errors import Forbidden, InvalidInput, NotFound
from shoal.rooms.access import RANK, Action, authorize_house, authorize_room
from shoal.rooms.houses import add_house_member
from shoal.rooms.membership import add_member
from shoal.store.tables import HouseMember, User, utcnow

router = APIRouter(prefix="/api/agents", tags=["agents"])

# Config keys of the wire contract; the secret ones are encrypted and never shown back.
CONFIG_KEYS = ("response_webhook_url", "response_webhook_secret", "llm_provider", "llm_api_key",
               "ollama_endpoint", "ollama_model", "role", "personality")
SECRET_KEYS = ("response_webhook_secret", "llm_api_key")
MAX_CONFIG_VALUE = 20_000


class CreateAgentBody(BaseModel):
    name: str
    role: str | None = None
    agencyId: str | None = None
    houseId: str | None = None


def agent_view(bot: User) -> dict[str, Any]:
    """A bot as the contract lists it."""
    return {**user_view(bot), "role": bot.config.get("role"), "owner_id": bot.owner_id,
            "status": "deleted" if bot.deleted_at else ("active" if bot.verified else
                                                         "unverified")}


def config_view(bot: User) -> dict[str, Any]:
    """A bot's configuration with secrets replaced by whether they are set."""
    view: dict[str, Any] = {}
    for key in CONFIG_KEYS:
        value = bot.config.get(key)
        view[key] = (value is not None) if key in SECRET_KEYS else value
    return view


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


@router.post("", status_code=201)
async def create_agent(body: CreateAgentBody, principal: PrincipalDep, shoal: ShoalDep
                       ) -> dict[str, Any]:
    """Create a bot owned by the caller; its token is in this answer only.
    The bot starts unverified."""
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
    if body.agencyId and access.room is not None:
        await add_member(shoal, access.room, bot.id)
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
    """The bot's owner vouches for it, so its token can open agent sessions."""
    bot = await manageable_bot(shoal, principal, agent_id)
    if bot.owner_id != principal.id:
        raise Forbidden("only the agent's owner may verify it")
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
    return {"config": config_view(bot)}


@router.patch("/{agent_id}/config")
async def update_config(agent_id: str, body: dict[str, Any], principal: PrincipalDep,
                        shoal: ShoalDep) -> dict[str, Any]:
    """Change configuration keys; null removes one. The next activation uses the new values."""
    await manageable_bot(shoal, principal, agent_id)
    unknown = sorted(set(body) - set(CONFIG_KEYS))
    if unknown:
        raise InvalidInput(f"unknown config key {unknown[0]!r}; known keys: "
                           f"{', '.join(CONFIG_KEYS)}")
    async with shoal.db.write() as session:
        bot = await session.get(User, agent_id)
        assert bot is not None
        config = dict(bot.config)
        for key, value in body.items():
            if value is None:
                config.pop(key, None)
                continue
            if not isinstance(value, str) or len(value) > MAX_CONFIG_VALUE:
                raise InvalidInput(f"{key} must be a string of at most {MAX_CONFIG_VALUE} "
                                   "characters")
            config[key] = shoal.secrets.encrypt(value) if key in SECRET_KEYS else value
        bot.config = config
    return {"config": config_view(bot)}


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
    """Delete a bot: its tokens stop working and its sockets close; its messages stay."""
    bot = await manageable_bot(shoal, principal, agent_id)
    async with shoal.db.write() as session:
        row = await session.get(User, bot.id)
        assert row is not None
        row.deleted_at = utcnow()
        revoked = await revoke_tokens_of(session, bot.id, ("bot", "agent", "session", "pat"))
    await shoal.gateway.disconnect_tokens(revoked)
    return {"ok": True}
