"""The `crew` tools a member agent works with: the board (crew_tasks, crew_task_create,
crew_task_update), reports to the lead (crew_report), edits and commits (crew_file_edit),
locks (crew_lock, crew_unlock), messages (crew_message) and, for the lead and sub-leads,
crew_add_member. Offered only to agents in an active crew of the room."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from shoal.crew.tables import REPORT_KINDS, TASK_STATES
from shoal.errors import ShoalError
from shoal.tools.base import Tool, ToolError, ToolList, ToolScope

if TYPE_CHECKING:
    from shoal.crew.service import CrewService
    from shoal.crew.work import CrewWork

CREW_GROUP = "crew"


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


TEXT = {"type": "string"}
TASK_ID = {"type": "string", "description": "the task's id, or its exact title"}
STATUS = {"type": "string", "enum": list(TASK_STATES)}
ASSIGNEE = {"type": "string", "description": "a member's @handle, or `me`"}
SCHEMAS: dict[str, dict[str, Any]] = {
    "crew_tasks": _object({"status": STATUS, "assignee": ASSIGNEE}, []),
    "crew_task_create": _object({"title": TEXT, "description": TEXT, "assignee": ASSIGNEE,
                                 "status": STATUS}, ["title"]),
    "crew_task_update": _object({"id": TASK_ID, "status": STATUS, "assignee": ASSIGNEE,
                                 "title": TEXT, "description": TEXT}, ["id"]),
    "crew_report": _object({"kind": {"type": "string", "enum": list(REPORT_KINDS)},
                            "text": TEXT}, ["kind", "text"]),
    "crew_file_edit": _object({"files": {"type": "array", "items": TEXT},
                               "commit": {"type": "string",
                                          "description": "the commit's message, if any"}},
                              []),
    "crew_lock": _object({"resource": {"type": "string",
                                       "description": "a file path or a service name"}},
                         ["resource"]),
    "crew_unlock": _object({"resource": TEXT}, ["resource"]),
    "crew_message": _object({"to": {"type": "string",
                                    "description": "`lead`, `crew` (everyone) or a member's "
                                                   "@handle"}, "text": TEXT}, ["to", "text"]),
    "crew_add_member": _object({
        "agent": {"type": "string", "description": "the agent's @handle"},
        "role": {"type": "string", "description": "developer, architect, code-reviewer, "
                                                  "secretary or a role of the house"},
        "task": {"type": "string", "description": "with a task: spawn it as a sub-agent "
                                                  "working on it now"},
        "model": {"type": "string", "description": "the spawned sub-agent's model"},
        "label": TEXT}, ["agent", "role"]),
}
DESCRIPTIONS = {
    "crew_tasks": "The crew's task board: id, title, status, assignee.",
    "crew_task_create": "Put a task on the crew's board, maybe assigned to a member.",
    "crew_task_update": "Change a task: its status (todo, in_progress, blocked, done), "
                        "assignee, title or description.",
    "crew_report": "Report to the crew's lead: progress, completion, blocker or error.",
    "crew_file_edit": "Tell the crew which files you edited, or what you committed.",
    "crew_lock": "Lock a resource (a file, a service) so no other member works on it; "
                 "refused while another member holds it.",
    "crew_unlock": "Release a lock you hold.",
    "crew_message": "Message the lead, the whole crew or one member; they are woken with it.",
    "crew_add_member": "Lead and sub-leads: add an agent to the crew with a role; with a "
                       "task, spawn it as a sub-agent working on it.",
}


class CrewTools:
    """A ToolSource: the crew tools, for an agent in an active crew of the room."""

    def __init__(self, crews: CrewService, work: CrewWork) -> None:
        self.crews = crews
        self.work = work

    async def tools(self, scope: ToolScope) -> ToolList:
        """The tools, bound to the crew the scope's agent is a member of; none outside one."""
        crew_id = await self.crews.crew_in_room(scope.room_id, scope.bot.id)
        if crew_id is None:
            return ToolList()
        runs: dict[str, Callable[[dict[str, Any]], Awaitable[Any]]] = {
            "crew_tasks": lambda a: self._tasks(crew_id, scope, a),
            "crew_task_create": lambda a: self.work.create_task(crew_id, scope.bot, a),
            "crew_task_update": lambda a: self.work.update_task(
                crew_id, str(a.get("id") or ""), scope.bot,
                {k: v for k, v in a.items() if k != "id"}),
            "crew_report": lambda a: self.work.report(
                crew_id, scope.bot, str(a.get("kind")), str(a.get("text") or ""),
                scope.activation_id),
            "crew_file_edit": lambda a: self.work.file_edit(crew_id, scope.bot, a),
            "crew_lock": lambda a: self._lock(crew_id, scope, a),
            "crew_unlock": lambda a: self.work.unlock(crew_id, scope.bot,
                                                      str(a.get("resource") or "")),
            "crew_message": lambda a: self.work.message(
                crew_id, scope.bot, str(a.get("to") or ""), str(a.get("text") or ""),
                scope.activation_id),
            "crew_add_member": lambda a: self._add(crew_id, scope, a),
        }
        return ToolList([Tool(name, DESCRIPTIONS[name], SCHEMAS[name], (CREW_GROUP,),
                              _answering(run)) for name, run in runs.items()])

    async def _tasks(self, crew_id: str, scope: ToolScope, args: dict[str, Any]) -> Any:
        found = await self.work.tasks(crew_id, scope.bot.id, status=args.get("status"),
                                      assignee=_me(args.get("assignee"), scope))
        return [{"id": t["id"], "title": t["title"], "status": t["status"],
                 "assignee": t["assignee"]} for t in found]

    async def _lock(self, crew_id: str, scope: ToolScope, args: dict[str, Any]) -> Any:
        answer = await self.work.lock(crew_id, scope.bot, str(args.get("resource") or ""))
        if not answer.acquired:
            raise ToolError(f"{answer.resource} is locked by {answer.holder}; work on something "
                            "else or message them")
        return {"resource": answer.resource, "locked": True}

    async def _add(self, crew_id: str, scope: ToolScope, args: dict[str, Any]) -> Any:
        if args.get("task"):
            if scope.activation_id is None:
                raise ToolError("sub-agents can be spawned only while the agent runs")
            return await self.crews.spawn_member(scope.bot, scope.activation_id, args)
        view = await self.crews.add_member(crew_id, scope.bot, str(args.get("agent") or ""),
                                           str(args.get("role") or ""))
        return {"members": [{k: m[k] for k in ("handle", "role", "status")}
                            for m in view["members"]]}


def _me(name: Any, scope: ToolScope) -> str | None:
    if not isinstance(name, str) or not name:
        return None
    return scope.bot.id if name.strip().lower() == "me" else name


def _answering(run: Callable[[dict[str, Any]], Awaitable[Any]]
               ) -> Callable[[dict[str, Any]], Awaitable[str]]:
    """A tool's run: its answer as JSON; a refusal as the tool error the model reads."""
    async def call(args: dict[str, Any]) -> str:
        try:
            answer = await run(args)
        except ShoalError as exc:
            raise ToolError(exc.message) from None
        return json.dumps(answer, ensure_ascii=False)
    return call
