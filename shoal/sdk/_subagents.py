"""`Subagent`: a builtin child an SDK agent spawned; await it for its end."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shoal.sdk._agent import Agent

ENDED = ("completed", "failed", "timed_out", "killed")


class Subagent:
    """A child running one task for the agent. `await child` (or `child.wait()`) returns it
    once it ended; `state`, `result` and `error` then say how."""

    def __init__(self, agent: Agent, view: dict[str, Any]) -> None:
        self._agent = agent
        self._view = view

    @property
    def id(self) -> str:
        """The child's id."""
        return str(self._view["id"])

    @property
    def task(self) -> str:
        """What it was asked to do."""
        return str(self._view["task"])

    @property
    def label(self) -> str:
        """The short name people see for it."""
        return str(self._view.get("label") or "")

    @property
    def state(self) -> str:
        """pending, running, completed, failed, timed_out or killed (as last fetched)."""
        return str(self._view["state"])

    @property
    def result(self) -> str | None:
        """Its final answer, once completed."""
        return self._view.get("result")

    @property
    def error(self) -> str | None:
        """Why it did not complete, if it did not."""
        return self._view.get("error")

    @property
    def done(self) -> bool:
        """Whether it ended (as last fetched)."""
        return self.state in ENDED

    async def refresh(self) -> Subagent:
        """Fetch its current state."""
        self._view = await self._agent._get(f"/api/subagents/{self.id}")
        return self

    async def wait(self, timeout: float | None = None, poll: float = 0.25) -> Subagent:
        """Wait until it ended (TimeoutError after `timeout` seconds, if given)."""
        async with asyncio.timeout(timeout):
            delay = min(0.05, poll)
            while not (await self.refresh()).done:
                await asyncio.sleep(delay)
                delay = min(delay * 2, poll)
        return self

    async def kill(self) -> Subagent:
        """Stop it; its state becomes killed."""
        self._view = await self._agent._post(f"/api/subagents/{self.id}/kill", {})
        return self

    def __await__(self) -> Generator[Any, None, Subagent]:
        return self.wait().__await__()

    def __repr__(self) -> str:
        return f"<Subagent {self.id} {self.state}>"
