"""What every runtime gets and gives: one activation in, one outcome out."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from shoal.ids import new_id

if TYPE_CHECKING:
    from shoal.agents.config import BotConfig
    from shoal.realtime.gateway import AgentStatus, Gateway
    from shoal.rooms.chat import Chat
    from shoal.store.tables import Activation, House, Room, User

OUTCOMES = ("replied", "skipped", "error", "delivered")
SKIP_REASONS = ("cooldown", "relevance", "dedup", "loop_guard", "permission", "budget",
                "silent", "collected", "interrupted", "interaction_budget")
TRIGGER_KINDS = ("mention", "ambient", "dm", "binding", "hook", "heartbeat", "cron", "subagent",
                 "subagent_result", "crew", "direct")


@dataclass
class Outcome:
    """How an activation ended, as the activation log records it."""

    outcome: str
    skip_reason: str | None = None
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    error: str | None = None
    reply_message_id: str | None = None


@dataclass
class ActivationContext:
    """One activation, ready to run: the bot's current record, where and why it woke, and
    where its reply and its status go."""

    chat: Chat
    gateway: Gateway
    activation: Activation
    bot: User
    config: BotConfig
    room: Room
    house: House
    trigger: dict[str, Any] | None  # the message that woke it, as the wire shows it
    inputs: list[dict[str, Any]] = field(default_factory=list)  # trigger plus collected ones
    interrupted: asyncio.Event = field(default_factory=asyncio.Event)
    lease_owner: str | None = None  # the worker running it; its reply needs the lease

    def loop_guard(self) -> dict[str, Any]:
        """The loop guard a reply carries: the activation's interaction, one hop further than
        the trigger."""
        guard = (self.trigger or {}).get("metadata", {}).get("loop_guard")
        interaction_id = self.activation.interaction_id
        if isinstance(guard, dict) and isinstance(guard.get("hop"), int):
            return {"interaction_id": interaction_id or guard.get("interaction_id") or new_id(),
                    "hop": guard["hop"] + 1,
                    "max_hops": guard.get("max_hops", self.config.max_hops),
                    "status": "active"}
        return {"interaction_id": interaction_id or new_id(), "hop": 1,
                "max_hops": self.config.max_hops, "status": "active"}

    def reply_metadata(self) -> dict[str, Any]:
        """What every reply of this activation carries: its loop guard and activation id
        (and the cron job that asked for it)."""
        meta: dict[str, Any] = {"loop_guard": self.loop_guard(),
                                "activation_id": self.activation.id}
        job_id = (self.activation.payload or {}).get("cron_job_id")
        if job_id:
            meta["cron"] = {"id": job_id}
        return meta

    async def reply(self, content: str, metadata: dict[str, Any] | None = None
                    ) -> dict[str, Any]:
        """Post the bot's reply: once per activation however often this is called."""
        meta = {**(metadata or {}), **self.reply_metadata()}
        return await self.chat.post_reply(self.bot, self.room.id, content,
                                          activation_id=self.activation.id,
                                          metadata=meta, lease_owner=self.lease_owner)

    async def thinking(self, on: bool, status: str | None = None, *,
                       running: bool = False) -> None:
        """Show or clear the room's "is thinking" indicator for the bot, and its
        `agent-status`: running while it runs a tool, else thinking or idle."""
        state: AgentStatus = "running" if running else ("thinking" if on else "idle")
        await self.gateway.emit_agent_status(self.room.id, self.bot, state, status)


class Runtime(Protocol):
    """Runs one activation of a bot and says how it went; never raises for a bot's failure."""

    async def run(self, ctx: ActivationContext) -> Outcome: ...
