"""A builtin bot's system prompt: the house, the bot's own prompt, then what it can do, when
it is, how to stay silent, and where it runs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from shoal.llm import NO_REPLY, ToolSpec
from shoal.scheduler.timing import house_zone

if TYPE_CHECKING:
    from shoal.agents.config import BotConfig
    from shoal.store.tables import House, Room, User

PromptMode = Literal["full", "minimal", "none"]
MEMORY_SEARCH_TOOL = "memory_search"  # offered: the prompt gets its Memory Recall section


def bot_prompt(bot: User, config: BotConfig) -> str:
    """The bot's own prompt, or a plain one made from its name and description."""
    if config.system_prompt.strip():
        return config.system_prompt.strip()
    about = f" {config.description.strip()}" if config.description.strip() else ""
    return (f"You are {bot.display_name} (@{bot.username}), an agent in a Shoal chat room."
            f"{about} Answer helpfully and briefly.")


def local_time(house: House, now: datetime | None = None) -> str:
    """The time in the house's time zone, as the prompt shows it: "Tuesday 2025-03-04 07:06
    Europe/Kyiv (UTC+02:00)", or "... UTC" in a house that keeps UTC."""
    zone = house_zone(house.settings)
    when = (now or datetime.now(UTC)).astimezone(zone)
    if zone.key == "UTC":
        return f"{when:%A %Y-%m-%d %H:%M} UTC"
    offset = when.strftime("%z")
    return f"{when:%A %Y-%m-%d %H:%M} {zone} (UTC{offset[:3]}:{offset[3:]})"


def memory_recall(can_save: bool) -> str:
    """The Memory Recall section: when to search memory, and when to save to it."""
    text = ("## Memory Recall\nBefore answering anything about earlier work, decisions, "
            "dates, people, preferences or to-dos, run memory_search with a few key words and "
            "use what it finds (read a whole note with memory_get); what you see of this "
            "conversation may be a summary of older turns. If it finds nothing, say you "
            "checked.")
    if can_save:
        text += (" When you learn something that should outlast this conversation (a "
                 "decision, a fact about someone, a promise), save it with memory_save.")
    return text


def build_system_prompt(
    house: House,
    bot: User,
    config: BotConfig,
    tools: Sequence[ToolSpec],
    *,
    room: Room | None = None,
    model: str = "",
    mode: PromptMode = "full",
    now: datetime | None = None,
) -> str:
    """The system prompt, sections in a fixed order. `minimal` (for sub-agents) leaves out the
    house, tool detail, memory recall, silent replies and heartbeats; `none` is only the
    bot's own prompt. Memory Recall appears when memory_search is among the tools."""
    own = bot_prompt(bot, config)
    if mode == "none":
        return own
    sections: list[str] = []
    if mode == "full" and house.description.strip():
        sections.append(f"# {house.name}\n{house.description.strip()}")
    sections.append(own)
    if tools:
        if mode == "full":
            listing = "\n".join(f"- {t.name}: {t.description}" for t in tools)
        else:
            listing = ", ".join(t.name for t in tools)
        sections.append(
            "## Tooling\nThe tools your policy allows here; call them by name. Tools with a "
            "Usage line are the room's slash commands. Results come back to you only; nobody "
            "else sees them unless you say so.\n" + listing)
    names = {t.name for t in tools}
    if mode == "full" and MEMORY_SEARCH_TOOL in names:
        sections.append(memory_recall("memory_save" in names))
    sections.append(f"## Current time\n{local_time(house, now)}")
    if mode == "full":  # a sub-agent answers its parent, who always wants an answer
        sections.append(
            "## Silent replies\nWhen you have nothing useful to add, reply with exactly "
            f"{NO_REPLY} and nothing else; nothing is posted.")
        sections.append(
            "## Heartbeats\nA scheduled check-in asks you to look at the room. If nothing "
            f"needs your attention, answer {NO_REPLY}.")
    where = f"#{room.slug}" if room is not None else "-"
    sections.append(f"## Runtime\nagent=@{bot.username} | room={where} | "
                    f"model={model or '-'} | prompt={mode}")
    return "\n\n".join(sections)
