"""The gates in front of an ambient activation, and the daily token budget."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.llm import (
    OFFLINE_MODEL,
    HouseModels,
    LLMConfig,
    UnknownModel,
    build_relevance_request,
    parse_model_ref,
    parse_relevance_answer,
    resolve_model,
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


async def relevance_model(models: ModelRouter, llm: Mapping[str, Any], house: House) -> str:
    """The model the relevance question goes to: the house's `relevance_model`, else the
    server's `[llm] relevance_model` (when the house allows it), else the house's first
    allowed model, else the server's primary. When that last one is the offline model but a
    real provider has a key, that provider's cheapest model answers instead, with a warning:
    offline is never chosen silently over a configured provider."""
    config = LLMConfig.parse(llm)
    allowed = HouseModels(house.settings.get("models") or {}, models.catalog)
    chosen = house.settings.get("relevance_model")
    if isinstance(chosen, str) and chosen:
        return chosen
    if config.relevance_model and _allows(allowed, config.relevance_model, models):
        return config.relevance_model
    if allowed.entries:
        return next(iter(allowed.entries))
    primary = config.primary
    if str(parse_model_ref(primary, models.catalog)) != OFFLINE_MODEL:
        return primary
    for spec in models.catalog.providers.values():
        cheapest = models.catalog.cheapest(spec.name)
        if spec.needs_key and cheapest and await models.keys.profiles(spec, house.id):
            if (house.id, cheapest) not in _warned:
                _warned.add((house.id, cheapest))
                log.warning("house %s names no relevance model and the server's primary is "
                            "the offline model, but %s has a key: asking %s instead; set one "
                            "with `shoal house set relevance_model <model>`", house.id,
                            spec.name, cheapest)
            return cheapest
    return primary


_warned: set[tuple[str, str]] = set()  # each substitution is logged once per process


def _allows(allowed: HouseModels, ref: str, models: ModelRouter) -> bool:
    try:
        resolve_model(ref, models.catalog, allowed)
    except UnknownModel:
        return False
    return True


async def judged_relevant(models: ModelRouter, llm: Mapping[str, Any], house: House, bot: User,
                          config: BotConfig, recent: list[tuple[Message, str]]
                          ) -> tuple[bool, dict[str, Any]]:
    """The relevance gate: ask the house's relevance model whether the recent conversation
    concerns the bot. Returns the verdict and what the question cost."""
    profile = "\n".join(p for p in (f"You are {bot.display_name} (@{bot.username}).",
                                    config.description, config.system_prompt) if p)
    transcript = "\n".join(f"{who}: {m.content}" for m, who in recent)
    model = await relevance_model(models, llm, house)
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
