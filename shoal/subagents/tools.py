"""The `sessions` tools a builtin agent spawns and steers sub-agents with: sessions_spawn,
sessions_list, sessions_wait and sessions_kill (group `sessions`, which the sub-agent layer
denies children)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from shoal.errors import ShoalError
from shoal.subagents.lifecycle import MAX_TIMEOUT_SECONDS
from shoal.subagents.service import subagent_view
from shoal.tools.base import Tool, ToolError, ToolList, ToolScope

if TYPE_CHECKING:
    from shoal.subagents.service import SubagentService

SESSIONS_GROUP = "sessions"
WAIT_DEFAULT_SECONDS = 30

SPAWN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "task": {"type": "string", "description": "<task>: the rest of the text: what the "
                                                  "sub-agent should do, completely stated"},
        "label": {"type": "string", "description": "a short name people see for it"},
        "agentId": {"type": "string", "description": "the @handle of the agent to run it as "
                                                     "(default: yourself)"},
        "model": {"type": "string", "description": "a model reference for it"},
        "run_timeout_seconds": {"type": "integer", "minimum": 1,
                                "maximum": MAX_TIMEOUT_SECONDS},
        "cleanup": {"type": "string", "enum": ["delete", "keep"]},
        "thinking": {"type": "string", "enum": ["off", "low", "medium", "high"],
                     "description": "how much it reasons before answering; else its own level"},
        "announce": {"type": "string", "enum": ["parent", "room", "none"],
                     "description": "where its result goes: to you (default), to the room, "
                                    "or nowhere (use sessions_wait)"},
    },
    "required": ["task"],
}
ID_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "string", "description": "the sub-agent's id"}}, "required": ["id"]}
WAIT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "string", "description": "the sub-agent's id"},
    "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 120}},
    "required": ["id"]}


class SessionTools:
    """A ToolSource: the sub-agent tools, for a bot during one of its activations."""

    def __init__(self, service: SubagentService) -> None:
        self.service = service

    async def tools(self, scope: ToolScope) -> ToolList:
        """The four tools, bound to the scope's bot and activation."""
        return ToolList([
            Tool("sessions_spawn", "Start a sub-agent on a task in the background; it works "
                 "alone on the task and its final answer comes back to you as a tool result. "
                 "Answers the sub-agent's id at once.", SPAWN_SCHEMA, (SESSIONS_GROUP,),
                 lambda args: self._spawn(scope, args)),
            Tool("sessions_list", "List your sub-agents in this room: id, state, task, result.",
                 {"type": "object", "properties": {}}, (SESSIONS_GROUP,),
                 lambda args: self._list(scope)),
            Tool("sessions_wait", "Wait for one of your sub-agents to end (at most "
                 "timeout_seconds) and answer its result or its state.", WAIT_SCHEMA,
                 (SESSIONS_GROUP,), lambda args: self._wait(scope, args)),
            Tool("sessions_kill", "Stop one of your sub-agents.", ID_SCHEMA, (SESSIONS_GROUP,),
                 lambda args: self._kill(scope, args)),
        ])

    async def _spawn(self, scope: ToolScope, args: dict[str, Any]) -> str:
        if scope.activation_id is None:
            raise ToolError("sub-agents can be spawned only while the agent runs")
        try:
            sub = await self.service.spawn_from_activation(scope.bot, scope.activation_id, args)
        except ShoalError as exc:
            raise ToolError(exc.message) from None
        return json.dumps({"status": "accepted", "id": sub.id, "session": sub.session_key,
                           "state": sub.state, "announce": sub.announce})

    async def _list(self, scope: ToolScope) -> str:
        found = await self.service.list_for_parent(scope.bot.id, scope.room_id)
        keep = ("id", "label", "state", "task", "result", "error")
        return json.dumps([{k: v[k] for k in keep} for v in found]) if found else "[]"

    async def _own(self, scope: ToolScope, args: dict[str, Any]) -> Any:
        sub_id = args.get("id")
        if not isinstance(sub_id, str) or not sub_id:
            raise ToolError("give the sub-agent's id, as sessions_spawn answered it")
        try:
            sub = await self.service.get(sub_id, scope.bot.id)
        except ShoalError as exc:
            raise ToolError(exc.message) from None
        if sub.parent_bot_id != scope.bot.id:
            raise ToolError(f"sub-agent {sub_id} is not one you spawned")
        return sub

    async def _wait(self, scope: ToolScope, args: dict[str, Any]) -> str:
        sub = await self._own(scope, args)
        timeout = args.get("timeout_seconds", WAIT_DEFAULT_SECONDS)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ToolError("timeout_seconds must be a positive number")
        sub = await self.service.wait(sub, float(timeout))
        view = subagent_view(sub)
        return json.dumps({k: view[k] for k in ("id", "label", "state", "result", "error")})

    async def _kill(self, scope: ToolScope, args: dict[str, Any]) -> str:
        sub = await self._own(scope, args)
        try:
            sub = await self.service.kill(sub.id, scope.bot, as_parent=True)
        except ShoalError as exc:
            raise ToolError(exc.message) from None
        return json.dumps({"id": sub.id, "state": sub.state})
