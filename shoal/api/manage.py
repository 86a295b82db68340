"""What the web app's management pages need beyond the contract: a house's registry of people
and bots (with each bot's runtime), the models a house may choose from, its stored provider
keys (masked), renaming a bot, and a bot's tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from shoal.agents.config import load_config
from shoal.api.agents import agent_view, manageable_bot
from shoal.api.deps import PrincipalDep, ShoalDep
from shoal.auth.tokens import revoke_tokens_of, token_view
from shoal.core import Shoal
from shoal.errors import InvalidInput, NotFound
from shoal.llm import HouseModels, KeyStore, StoredKey, default_chain
from shoal.rooms.access import RANK, Action, authorize_house
from shoal.rooms.houses import get_house, house_members, member_view
from shoal.store.tables import Token, User, iso

router = APIRouter(prefix="/api", tags=["management"])

BOT_TOKEN_KINDS = ("bot", "agent")  # the bot's own token and the sessions opened with it


class RenameBody(BaseModel):
    name: str = Field(min_length=1, max_length=64)


class KeyBody(BaseModel):
    provider: str = Field(min_length=1, max_length=64)
    apiKey: str = Field(min_length=1, max_length=4000)
    label: str = Field("", max_length=128)


@router.get("/houses/{house_id}/registry")
async def house_registry(house_id: str, principal: PrincipalDep, shoal: ShoalDep
                         ) -> list[dict[str, Any]]:
    """Everyone in the house with role and presence; bots also with runtime, status, model
    and whether the caller may manage them."""
    async with shoal.db.read() as session:
        access = await authorize_house(session, principal.id, house_id, Action.VIEW_HOUSE)
        rows = await house_members(session, house_id)
    online = shoal.gateway.online_users()
    is_admin = RANK[access.role or "guest"] >= RANK["admin"]
    entries = []
    for member, user in rows:
        entry = {**member_view(member, user, user.id in online), "kind": user.kind}
        if user.kind == "bot":
            config = load_config(user.config)
            entry["bot"] = {
                "runtime": config.runtime,
                "status": agent_view(user)["status"],
                "description": config.description,
                "model": config.model.primary,
                "trigger_mode": config.trigger_mode,
                "owner_id": user.owner_id,
                "manageable": is_admin or user.owner_id == principal.id,
            }
        entries.append(entry)
    return entries


@router.get("/houses/{house_id}/models")
async def house_models(house_id: str, principal: PrincipalDep, shoal: ShoalDep
                       ) -> dict[str, Any]:
    """The models a bot of this house may use: the house's own list when it has one (then it
    is an allowlist), else the server's catalog; and the server's default chain."""
    async with shoal.db.read() as session:
        await authorize_house(session, principal.id, house_id, Action.VIEW_HOUSE)
        house = await get_house(session, house_id)
    catalog = shoal.models.catalog
    own = HouseModels(house.settings.get("models") or {}, catalog)
    if own.entries:
        models = [{"ref": ref, "aliases": [e.alias] if e.alias else []}
                  for ref, e in own.entries.items()]
    else:
        models = [{"ref": ref, "aliases": list(info.aliases)}
                  for ref, info in sorted(catalog.models.items())]
    primary, *fallbacks = default_chain(shoal.settings)
    return {"allowlist": bool(own.entries), "models": models,
            "default": {"primary": primary, "fallbacks": fallbacks}}


@router.get("/houses/{house_id}/keys")
async def house_keys(house_id: str, principal: PrincipalDep, shoal: ShoalDep
                     ) -> list[dict[str, Any]]:
    """The provider keys stored for this house, masked (house admins)."""
    async with shoal.db.read() as session:
        await authorize_house(session, principal.id, house_id, Action.MANAGE_MEMBERS)
    return [_key_view(k) for k in await _key_store(shoal).list(house_id)]


@router.post("/houses/{house_id}/keys", status_code=201)
async def add_house_key(house_id: str, body: KeyBody, principal: PrincipalDep,
                        shoal: ShoalDep) -> dict[str, Any]:
    """Store a provider key for this house (its owners); the answer shows only its hint.
    The house's bots then use the house's keys for that provider."""
    async with shoal.db.read() as session:
        await authorize_house(session, principal.id, house_id, Action.MANAGE_HOUSE)
    provider = body.provider.strip().lower()
    if shoal.models.catalog.provider(provider) is None:
        known = ", ".join(sorted(shoal.models.catalog.providers))
        raise InvalidInput(f"unknown provider {provider!r}; known providers: {known}")
    stored = await _key_store(shoal).add(provider, body.apiKey, house_id=house_id, label=body.label)
    shoal.models.keys.invalidate()
    return _key_view(stored)


@router.delete("/houses/{house_id}/keys/{key_id}")
async def remove_house_key(house_id: str, key_id: str, principal: PrincipalDep,
                           shoal: ShoalDep) -> dict[str, Any]:
    """Delete one of the house's stored keys (its owners)."""
    async with shoal.db.read() as session:
        await authorize_house(session, principal.id, house_id, Action.MANAGE_HOUSE)
    store = _key_store(shoal)
    if key_id not in {k.id for k in await store.list(house_id)}:
        raise NotFound("key not found")
    await store.remove(key_id)
    shoal.models.keys.invalidate()
    return {"ok": True}


@router.patch("/agents/{agent_id}")
async def rename_agent(agent_id: str, body: RenameBody, principal: PrincipalDep,
                       shoal: ShoalDep) -> dict[str, Any]:
    """Change a bot's display name; its @handle stays, so mentions keep working."""
    name = body.name.strip()
    if not name:
        raise InvalidInput("name must not be blank")
    bot = await manageable_bot(shoal, principal, agent_id)
    async with shoal.db.write() as session:
        row = await session.get(User, bot.id)
        assert row is not None
        row.display_name = name
    return {"agent": agent_view(row)}


@router.get("/agents/{agent_id}/tokens")
async def agent_tokens(agent_id: str, principal: PrincipalDep, shoal: ShoalDep
                       ) -> list[dict[str, Any]]:
    """The bot's tokens and agent sessions, newest first, without their values."""
    bot = await manageable_bot(shoal, principal, agent_id)
    async with shoal.db.read() as session:
        rows = (await session.scalars(
            select(Token).where(Token.user_id == bot.id, Token.kind.in_(BOT_TOKEN_KINDS))
            .order_by(Token.created_at.desc()).limit(100)
        )).all()
    return [token_view(t) for t in rows]


@router.delete("/agents/{agent_id}/tokens")
async def revoke_agent_tokens(agent_id: str, principal: PrincipalDep, shoal: ShoalDep
                              ) -> dict[str, Any]:
    """Revoke every token of the bot and the sessions opened with them; its sockets close.
    The bot is locked out until someone makes it a new token."""
    bot = await manageable_bot(shoal, principal, agent_id)
    async with shoal.db.write() as session:
        revoked = await revoke_tokens_of(session, bot.id, BOT_TOKEN_KINDS)
    await shoal.gateway.disconnect_tokens(revoked)
    return {"ok": True, "revoked": len(revoked)}


def _key_store(shoal: Shoal) -> KeyStore:
    store = shoal.models.keys.store
    assert store is not None  # a server's model layer is always built with its database
    return store


def _key_view(key: StoredKey) -> dict[str, Any]:
    return {"id": key.id, "provider": key.provider, "label": key.label, "hint": key.hint,
            "created_at": iso(key.created_at)}
