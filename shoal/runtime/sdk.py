"""The SDK runtime: the bot is its own process, connected over Socket.IO, and hears the
message as every member does. Shoal makes no call; it records whether the message reached
the bot: `delivered` when a socket of the bot was in the room, else the activation waits
until the bot joins the room and catches up (see shoal.realtime.delivery)."""

from __future__ import annotations

import logging

from shoal.realtime.delivery import WAITING
from shoal.runtime.base import ActivationContext, Outcome

log = logging.getLogger("shoal.runtime")


class SdkRuntime:
    """Runs bots whose runtime is `sdk`: nothing to run, only to record."""

    async def run(self, ctx: ActivationContext) -> Outcome:
        """Delivered if the bot's socket is in the room; otherwise waiting for it to join."""
        if await ctx.gateway.bot_in_room(ctx.bot.id, ctx.room.id):
            return Outcome("delivered")
        log.info("@%s has no socket in #%s: activation %s waits until it joins the room",
                 ctx.bot.username, ctx.room.slug, ctx.activation.id)
        return Outcome(WAITING)
