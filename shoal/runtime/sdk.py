"""The SDK runtime: the bot is its own process, connected over Socket.IO, and hears the
message as every member does. Shoal makes no call; the activation is recorded as delivered
so the log is complete."""

from __future__ import annotations

from shoal.runtime.base import ActivationContext, Outcome


class SdkRuntime:
    """Runs bots whose runtime is `sdk`: nothing to run, only to record."""

    async def run(self, ctx: ActivationContext) -> Outcome:
        """The message already reached the bot's socket; record the delivery."""
        return Outcome("delivered")
