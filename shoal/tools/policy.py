"""The layered tool policy: which of the gathered tools an agent is offered, which need a
person's approval, and, for each tool left out, the layer and rule that removed it.

Layers, in order: the server's `[tools]` table, its `by_provider` entries for the agent's
provider and for its model, the house's `tools` setting, the agent's own `tools`. A tool is
offered only if every layer allows it; a deny anywhere wins; approval lists add up.

A pattern is a tool name (`save`), a group (`group:notes`, `group:mcp:github`), or a name
within a group (`mcp:github__*`: the tools named `github__*` in group `mcp`); `*`, `?` and
`[...]` are wildcards in each part (`group:mcp:*`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from pydantic import Field, ValidationError

from shoal.agents.config import StrictToolPolicy, ToolPolicy
from shoal.errors import InvalidInput
from shoal.validation import describe_errors

if TYPE_CHECKING:
    from shoal.tools.base import Tool

GROUP = "group:"
# What a sub-agent may not do, whatever its parent may: spawn or steer sessions (the parent
# orchestrates), schedule, administer agents and rooms, or read memory (its task says what it
# needs). The server's `[tools.subagents] allow` can give back any of these; its deny adds.
DEFAULT_SUBAGENT_DENY = ("group:sessions", "group:schedules", "group:agents", "group:memory",
                         "bind", "unbind", "invite")


def matches(tool: Tool, pattern: str) -> bool:
    """Whether a policy pattern names this tool."""
    if pattern.startswith(GROUP):
        wanted = pattern[len(GROUP):]
        return any(fnmatchcase(group, wanted) for group in tool.groups)
    if fnmatchcase(tool.name, pattern):
        return True
    group, colon, name = pattern.rpartition(":")  # tool names have no ':'
    return bool(colon) and fnmatchcase(tool.name, name) and any(
        fnmatchcase(g, group) for g in tool.groups)


def first_match(tool: Tool, patterns: Sequence[str]) -> str | None:
    """The first pattern naming the tool, if any."""
    return next((p for p in patterns if matches(tool, p)), None)


@dataclass(frozen=True)
class Layer:
    """One layer of the policy, named as the explain endpoint shows it."""

    name: str
    policy: ToolPolicy

    @classmethod
    def of(cls, name: str, raw: Mapping[str, Any] | None) -> Layer:
        """A layer from a stored policy (checked when it was stored)."""
        return cls(name, ToolPolicy.model_validate(dict(raw or {})))


@dataclass(frozen=True)
class Rule:
    """The layer and the rule in it that decided something about a tool."""

    layer: str
    rule: str

    def view(self) -> dict[str, str]:
        """As the explain endpoint shows it."""
        return {"layer": self.layer, "rule": self.rule}


@dataclass(frozen=True)
class Decision:
    """What the layers decided about one tool."""

    tool: Tool
    removed_by: Rule | None
    approval_by: tuple[Rule, ...]

    @property
    def offered(self) -> bool:
        """Whether every layer allows the tool."""
        return self.removed_by is None

    @property
    def needs_approval(self) -> bool:
        """Whether a call waits for a person's approval."""
        return bool(self.approval_by)


def decide(tool: Tool, layers: Sequence[Layer]) -> Decision:
    """Apply every layer to one tool: the first deny wins, else the first layer whose allow
    list does not name it removes it; every layer's approval rule counts."""
    removed: Rule | None = None
    for layer in layers:
        denied = first_match(tool, layer.policy.deny)
        if denied is not None:
            removed = Rule(layer.name, f"deny {denied}")
            break
    if removed is None:
        for layer in layers:
            if first_match(tool, layer.policy.allow) is None:
                listed = ", ".join(layer.policy.allow) or "nothing"
                removed = Rule(layer.name, f"allow lists only {listed}")
                break
    approval = []
    for layer in layers:
        pattern = first_match(tool, layer.policy.approval)
        if pattern is not None:
            approval.append(Rule(layer.name, f"approval {pattern}"))
    return Decision(tool, removed, tuple(approval))


class ServerToolPolicy(StrictToolPolicy):
    """The configuration file's `[tools]` table: the server's layer, and `by_provider`
    layers keyed by a provider ("anthropic") or one model ("anthropic/claude-opus-4-5")."""

    by_provider: dict[str, StrictToolPolicy] = Field(default_factory=dict)
    subagents: StrictToolPolicy = Field(default_factory=StrictToolPolicy)

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> ServerToolPolicy:
        """Validate the `[tools]` table, or explain what is wrong with it."""
        try:
            return cls.model_validate(dict(raw or {}))
        except ValidationError as exc:
            problems = describe_errors(exc.errors(), subject="the [tools] table",
                                       prefix="tools", limit=20)
            raise InvalidInput(f"invalid configuration: {problems}") from None

    def layers(self, model: str) -> list[Layer]:
        """The server's layers for an agent whose primary model is `model` ("provider/name"):
        the table itself, then its provider's entry and its model's, when there are."""
        found = [Layer("server", self)]
        provider = model.split("/", 1)[0]
        if provider in self.by_provider:
            found.append(Layer(f"provider {provider}", self.by_provider[provider]))
        if "/" in model and model in self.by_provider:
            found.append(Layer(f"model {model}", self.by_provider[model]))
        return found

    def subagent_layer(self) -> Layer:
        """The sub-agent layer, on top of every other layer for a child: the default deny
        list less what `[tools.subagents] allow` names exactly, plus its own deny."""
        given = self.subagents
        deny = [d for d in DEFAULT_SUBAGENT_DENY if d not in given.allow]
        return Layer("subagent", ToolPolicy(allow=["*"], deny=[*deny, *given.deny],
                                            approval=list(given.approval)))
