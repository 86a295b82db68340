"""The SDK runtime: the bot is its own process, connected over Socket.IO, and hears the
message as every member does. Shoal makes no call; the activation is recorded as delivered
so the log is complete."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoal.runtime.base import ActivationContext, Outcome

if TYPE_CHECKING:
    from shoal.core import Shoal


class SdkRuntime:
    """Runs bots whose runtime is `sdk`: nothing to run, only to record."""

    def __init__(self, shoal: Shoal) -> None:
        self.shoal = shoal

    async def run(self, ctx: ActivationContext) -> Outcome:
        """The message already reached the bot's socket; record the delivery."""
        return Outcome("delivered")
