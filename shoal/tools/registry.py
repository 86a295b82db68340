"""The tool registry: every source's tools gathered for a scope, the layered policy applied,
and one path for every call (policy check, approval gate, tool card, timing and status in
the activation, a size-capped result back to the model).

Plugging in a source is one `add_source` where the services are built (`shoal.core`). Tool
names are unique across sources: when two offer the same name, the source added first wins
and the other's tool is left out with a warning in the log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from shoal.llm import ToolSpec
from shoal.tools.base import ToolError, ToolList
from shoal.tools.commands import COMMANDS_GROUP
from shoal.tools.policy import Decision, Layer, ServerToolPolicy, decide

if TYPE_CHECKING:
    from shoal.agents.config import ToolPolicy
    from shoal.llm import ToolCall
    from shoal.tools.base import Tool, ToolScope, ToolSource

log = logging.getLogger("shoal.tools")

MAX_RESULT_CHARS = 4000  # a tool result is context for the next call, not an archive
MAX_PROMPT_DESCRIPTION = 300  # the prompt's Tooling section gives each tool one short line


class ToolRun(Protocol):
    """Where a call shows as a tool card (the activation's run): it asks a person first when
    the call is gated, and calls `execute` unless they deny it."""

    async def tool(self, call: ToolCall, label: str, gated: bool,
                   execute: Callable[[], Awaitable[str]]) -> str:
        """The call's result as the model reads it."""
        ...


def label(tool: Tool | None, name: str) -> str:
    """How people see a call of the tool: `/save` for a slash command, else its name."""
    return f"/{name}" if tool is not None and COMMANDS_GROUP in tool.groups else name


def capped(text: str) -> str:
    """A result cut to MAX_RESULT_CHARS."""
    return text if len(text) <= MAX_RESULT_CHARS else text[:MAX_RESULT_CHARS] + "…"


class Toolbox:
    """The tools of one scope after the policy: what is offered, what was left out and why,
    and the calls made through it (name, duration, status), for the activation's record."""

    def __init__(self, decisions: Sequence[Decision], unavailable: Mapping[str, str]) -> None:
        self.decisions = list(decisions)
        self.unavailable = dict(unavailable)
        self.calls: list[dict[str, Any]] = []
        self._by_name = {d.tool.name: d for d in self.decisions}

    @property
    def offered(self) -> list[Tool]:
        """The tools every layer allows."""
        return [d.tool for d in self.decisions if d.offered]

    def specs(self) -> list[ToolSpec]:
        """The offered tools as the model is told of them."""
        return [ToolSpec(t.name, t.description, t.parameters) for t in self.offered]

    def prompt_specs(self) -> list[ToolSpec]:
        """The offered tools as the prompt lists them: one short line each."""
        return [ToolSpec(s.name, _one_line(s.description), s.parameters) for s in self.specs()]

    async def call(self, call: ToolCall, run: ToolRun) -> str:
        """Run one call of the model's through the one path; never raises for the tool's own
        failures: they come back as `error: <message>`."""
        decision = self._by_name.get(call.name)
        tool = decision.tool if decision is not None else None
        status = "denied"  # stays so when a person denies the gated call
        started = time.monotonic()

        async def execute() -> str:
            nonlocal status
            status = "refused"
            if decision is None:
                return f"error: there is no tool named {call.name!r}"
            if decision.removed_by is not None:
                return (f"error: {call.name} is not allowed here (the {decision.removed_by.layer}"
                        f" policy: {decision.removed_by.rule})")
            try:
                text = await decision.tool.run(dict(call.arguments))
                status = "done"
            except ToolError as exc:
                status, text = "error", f"error: {exc.message}"
            except Exception:
                log.exception("tool %s failed unexpectedly", call.name)
                status, text = "error", "error: the tool failed unexpectedly; the server logged it"
            return capped(text)

        gated = decision is not None and decision.offered and decision.needs_approval
        output = await run.tool(call, label(tool, call.name), gated, execute)
        self.calls.append({"name": call.name, "status": status,
                           "duration_ms": int((time.monotonic() - started) * 1000)})
        return output

    def explain(self) -> dict[str, Any]:
        """What the explain endpoint answers: the tools offered (and which layers want them
        approved), those left out with the layer and rule that removed each, and what the
        sources could not offer."""
        return {
            "tools": [{**_tool_view(d.tool), "needs_approval": d.needs_approval,
                       "approval_by": [r.view() for r in d.approval_by]}
                      for d in self.decisions if d.offered],
            "removed": [{**_tool_view(d.tool), "removed_by": d.removed_by.view()}
                        for d in self.decisions if d.removed_by is not None],
            "unavailable": self.unavailable,
        }


class ToolRegistry:
    """Every source of tools, and the server's layer of the policy."""

    def __init__(self, server: ServerToolPolicy) -> None:
        self.server = server
        self._sources: list[ToolSource] = []
        self._warned: set[tuple[str, int]] = set()

    def add_source(self, source: ToolSource) -> None:
        """Offer this source's tools to agents; a source added earlier wins a name."""
        self._sources.append(source)

    def layers(self, model: str, house_settings: Mapping[str, Any], agent: ToolPolicy, *,
               parent: ToolPolicy | None = None, subagent: bool = False) -> list[Layer]:
        """The policy's layers for an agent on `model` ("provider/name") in a house: the
        server's, the house's, the agent's own; for a sub-agent, then its parent agent's own
        (when another agent spawned it) and the sub-agent layer."""
        found = [*self.server.layers(model), Layer.of("house", house_settings.get("tools")),
                 Layer("agent", agent)]
        if parent is not None:
            found.append(Layer("parent agent", parent))
        if subagent:
            found.append(self.server.subagent_layer())
        return found

    async def gather(self, scope: ToolScope) -> ToolList:
        """Every source's tools in the scope, names unique; a source that fails is logged and
        said to be unavailable, and the others still count."""
        answers = await asyncio.gather(*(s.tools(scope) for s in self._sources),
                                       return_exceptions=True)
        found = ToolList()
        seen: set[str] = set()
        for index, (source, answer) in enumerate(zip(self._sources, answers, strict=True)):
            if isinstance(answer, BaseException):
                if not isinstance(answer, Exception):
                    raise answer
                log.error("tool source %s failed", type(source).__name__, exc_info=answer)
                found.unavailable[type(source).__name__] = "failed; the server logged why"
                continue
            found.unavailable.update(answer.unavailable)
            for tool in answer.tools:
                if tool.name in seen:
                    self._warn_shadowed(tool.name, index)
                    continue
                seen.add(tool.name)
                found.tools.append(tool)
        return found

    async def toolbox(self, scope: ToolScope, layers: Sequence[Layer]) -> Toolbox:
        """The scope's tools with the layers applied."""
        found = await self.gather(scope)
        return Toolbox([decide(t, layers) for t in found.tools], found.unavailable)

    def _warn_shadowed(self, name: str, index: int) -> None:
        if (name, index) not in self._warned:
            self._warned.add((name, index))
            log.warning("two tool sources offer a tool named %s; the one added first wins and "
                        "%s's is left out", name, type(self._sources[index]).__name__)


def _tool_view(tool: Tool) -> dict[str, Any]:
    return {"name": tool.name, "description": tool.description, "groups": list(tool.groups)}


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    if len(line) <= MAX_PROMPT_DESCRIPTION:
        return line
    return line[: MAX_PROMPT_DESCRIPTION - 1] + "…"
