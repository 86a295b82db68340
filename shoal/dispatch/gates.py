"""The gates in front of an ambient activation, and the daily token budget."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.llm import (
    HouseModels,
    LLMConfig,
    build_relevance_request,
    parse_relevance_answer,
)
from shoal.store.tables import Activation, Message, User

if TYPE_CHECKING:
    from shoal.agents.config import BotConfig
    from shoal.llm import ModelRouter
    from shoal.store.tables import House

log = logging.getLogger("shoal.dispatch")
RECENT = 5


async def recent_messages(session: AsyncSession, room_id: str, up_to_seq: int
                          ) -> list[tuple[Message, str]]:
    """The last few live messages of a room up to a seq, oldest first, with who wrote them."""
    rows = await session.execute(
        select(Message, User.username).outerjoin(User, User.id == Message.sender_id)
        .where(Message.room_id == room_id, Message.seq <= up_to_seq,
               Message.deleted_at.is_(None))
        .order_by(Message.seq.desc()).limit(RECENT)
    )
    return [(m, f"@{u}" if u else (m.sender_name or "system")) for m, u in reversed(rows.all())]


def spoke_recently(bot_id: str, recent: list[tuple[Message, str]]) -> bool:
    """The cooldown gate: the bot wrote one of the last few messages."""
    return any(m.sender_id == bot_id for m, _ in recent)


def relevance_model(llm: Mapping[str, Any], house: House) -> str:
    """The house's cheap model for YES/NO relevance questions (`llm`: the settings' [llm])."""
    config = LLMConfig.parse(llm)
    return str(house.settings.get("relevance_model") or llm.get("relevance_model")
               or config.primary)


async def judged_relevant(models: ModelRouter, llm: Mapping[str, Any], house: House, bot: User,
                          config: BotConfig, recent: list[tuple[Message, str]]
                          ) -> tuple[bool, dict[str, Any]]:
    """The relevance gate: ask the house's relevance model whether the recent conversation
    concerns the bot. Returns the verdict and what the question cost."""
    profile = "\n".join(p for p in (f"You are {bot.display_name} (@{bot.username}).",
                                    config.description, config.system_prompt) if p)
    transcript = "\n".join(f"{who}: {m.content}" for m, who in recent)
    model = relevance_model(llm, house)
    answer = await models.complete(
        build_relevance_request(profile, transcript), [model],
        house=HouseModels(house.settings.get("models", {}), models.catalog),
        house_id=house.id)
    usage = answer.usage
    cost = {"model": answer.model or model,
            "input_tokens": usage.input_tokens if usage else 0,
            "output_tokens": usage.output_tokens if usage else 0}
    return parse_relevance_answer(answer.text), cost


async def tokens_used_since(session: AsyncSession, bot_id: str, since: datetime) -> int:
    """Input plus output tokens the bot's activations used since a time (its daily budget)."""
    used = await session.scalar(
        select(func.coalesce(func.sum(Activation.input_tokens + Activation.output_tokens), 0))
        .where(Activation.bot_id == bot_id, Activation.created_at >= since)
    )
    return int(used or 0)
