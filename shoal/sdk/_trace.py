"""`Trace`: silent commands timed step by step, attached to a reply as `metadata.trace`."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from shoal.sdk._errors import CommandError, CommandTimeout
from shoal.sdk._models import CommandResult

if TYPE_CHECKING:
    from shoal.sdk._agent import Agent


def format_duration(seconds: float) -> str:
    """A duration as the contract writes it: "34ms"."""
    return f"{round(seconds * 1000)}ms"


class Trace:
    """Steps of an agent's work, each with its duration and status."""

    def __init__(self, agent: Agent) -> None:
        self._agent = agent
        self._started = time.perf_counter()
        self.steps: list[dict[str, str]] = []

    async def command(self, cmd: str, timeout: float = 15) -> CommandResult:
        """Run a command silently and record it. A failure is recorded as an `error` step and
        returned with `ok=False`, so one failing probe does not end the diagnosis."""
        started = time.perf_counter()
        try:
            result = await self._agent.execute_command(cmd, timeout=timeout, silent=True)
        except (CommandError, CommandTimeout) as exc:
            name = getattr(exc, "command", cmd)
            result = CommandResult(ok=False, command=name, content=exc.message, type="system")
        self.steps.append({"step": cmd, "duration": format_duration(time.perf_counter() - started),
                           "status": "done" if result.ok else "error"})
        return result

    def finish(self) -> dict[str, Any]:
        """`{trace: [...], duration: "..ms"}`, ready to pass as a reply's metadata."""
        return {"trace": list(self.steps),
                "duration": format_duration(time.perf_counter() - self._started)}
