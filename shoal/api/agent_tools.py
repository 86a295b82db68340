"""An agent's effective tools: what its policy offers it in a house (or a room), and for each
tool left out, the layer and rule that removed it ("why can't my agent use X?")."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from shoal.agents.config import BotConfig, load_config
from shoal.api.agents import manageable_bot
from shoal.api.deps import PrincipalDep, ShoalDep
from shoal.core import Shoal
from shoal.errors import InvalidInput, NotFound
from shoal.llm import HouseModels, LLMConfig, UnknownModel, resolve_model
from shoal.rooms.access import Action, authorize_house, room_access
from shoal.store.tables import House, HouseMember, User
from shoal.tools.base import ToolScope

router = APIRouter(prefix="/api/agents", tags=["agents"])


@router.get("/{agent_id}/tools")
async def agent_tools(
    agent_id: str,
    principal: PrincipalDep,
    shoal: ShoalDep,
    room: str | None = Query(None, description="A room's id: the tools the agent has there"),
    house: str | None = Query(None, description="A house's id, when no room is given"),
) -> dict[str, Any]:
    """The agent's effective tools (for whoever may see its configuration): each offered one
    with whether a call needs approval and which layers ask for it; each one left out with
    the layer and rule that removed it; and what the sources could not offer, and why.
    Without `room` or `house`, in the agent's first house."""
    bot = await manageable_bot(shoal, principal, agent_id)
    house_row, room_id = await _where(shoal, principal.id, bot, room, house)
    config = load_config(bot.config)
    model = _primary_model(shoal, config, house_row)
    layers = shoal.tools.layers(model, house_row.settings or {}, config.tools)
    toolbox = await shoal.tools.toolbox(ToolScope(bot, house_row.id, room_id), layers)
    return {"agent_id": bot.id, "house_id": house_row.id, "room_id": room_id or None,
            "model": model, "layers": [layer.name for layer in layers], **toolbox.explain()}


async def _where(shoal: Shoal, caller_id: str, bot: User, room: str | None, house: str | None
                 ) -> tuple[House, str]:
    """The house (and room, or "") the question is about; the caller must see it and the
    agent must be a member of the house."""
    async with shoal.db.read() as session:
        room_id = ""
        if room is not None:
            access = await room_access(session, caller_id, room)
            if not access.allows(Action.READ):
                raise NotFound("room not found")
            house_id, room_id = access.house_id, room
        elif house is not None:
            house_id = house
        else:
            first = await session.scalar(
                select(HouseMember.house_id).where(HouseMember.user_id == bot.id)
                .order_by(HouseMember.joined_at, HouseMember.house_id).limit(1))
            if first is None:
                raise InvalidInput(f"@{bot.username} is in no house yet; add it to one first")
            house_id = first
        await authorize_house(session, caller_id, house_id, Action.VIEW_HOUSE)
        if await session.get(HouseMember, (house_id, bot.id)) is None:
            raise InvalidInput(f"@{bot.username} is not a member of that house; ask about a "
                               "house or room it is in")
        found = await session.get(House, house_id)
        if found is None:
            raise NotFound("house not found")
        return found, room_id


def _primary_model(shoal: Shoal, config: BotConfig, house: House) -> str:
    """The agent's primary model as the runtime resolves it ("provider/name"), which the
    server's by_provider layers match; the reference as written when it does not resolve."""
    reference = config.model.primary or LLMConfig.parse(shoal.settings.llm).primary
    catalog = shoal.models.catalog
    try:
        models = HouseModels((house.settings or {}).get("models") or {}, catalog)
        return str(resolve_model(reference, catalog, models).ref)
    except UnknownModel:
        return reference
