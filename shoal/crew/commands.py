"""/crew start|add|remove|end|status and /task: a room's crew for the people in it (agents
may run them too, as tools)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shoal.commands.registry import (
    Arg,
    Command,
    CommandContext,
    CommandRegistry,
    CommandResult,
    UsageError,
)
from shoal.crew.tables import TASK_STATES
from shoal.errors import NotFound
from shoal.rooms.access import Action

if TYPE_CHECKING:
    from shoal.crew.service import CrewService
    from shoal.crew.work import CrewWork

FAMILY = "crew"


def bare(handle: str | None) -> str:
    """A handle as posted results show it: without `@`, so the post wakes nobody."""
    return (handle or "-").lstrip("@")


def words(text: str | None) -> list[str]:
    """The words of a command's details."""
    return (text or "").split()


def status_text(view: dict[str, Any]) -> str:
    """A crew as /crew status shows it."""
    budget = view["budget"]
    lines = [f"Crew {view['name'] or view['id']} ({view['state']}): {view['goal']}",
             f"Lead: {bare(view['lead']['handle'])} · running {budget['running']} / "
             f"{budget['agents']} · tasks: " + ", ".join(
                 f"{count} {state.replace('_', ' ')}"
                 for state, count in view.get("tasks", {}).items()),
             "", "| member | role | status | working on | locks |", "|---|---|---|---|---|"]
    for member in view["members"]:
        lines.append(f"| {bare(member['handle'])} | {member['role']} | {member['status']} | "
                     f"{member['working_on'] or '-'} | {', '.join(member['locks']) or '-'} |")
    return "\n".join(lines)


class CrewCommands:
    """The handlers, bound to the crew services."""

    def __init__(self, crews: CrewService, work: CrewWork) -> None:
        self.crews = crews
        self.work = work

    async def _room_crew(self, ctx: CommandContext) -> str:
        crew_id = await self.crews.active_in_room(ctx.room.id)
        if crew_id is None:
            raise NotFound("this room has no active crew; start one with /crew start "
                           "<@lead> <goal...>")
        return crew_id

    async def crew(self, ctx: CommandContext) -> CommandResult:
        """Start, change, end or show the room's crew."""
        action = (ctx.args.get("action") or "status").lower()
        args = words(ctx.args.get("details"))
        if action == "start":
            lead, _, goal = (ctx.args.get("details") or "").strip().partition(" ")
            if not lead or not goal.strip():
                raise UsageError("say who leads and the goal: /crew start <@lead> <goal...>")
            view = await self.crews.start(ctx.invoker, ctx.room.id,
                                          {"lead": lead, "goal": goal.strip()})
            return CommandResult(f"Crew started: {view['goal']}\nLead: "
                                 f"{bare(view['lead']['handle'])}",
                                 metadata={"crew": {"id": view["id"], "state": "active"}})
        if action == "status":
            crew_id = await self._room_crew(ctx)
            view = await self.crews.view(crew_id, ctx.invoker.id)
            return CommandResult(status_text(view), ephemeral=True,
                                 metadata={"crew": {"id": crew_id, "state": view["state"]}})
        crew_id = await self._room_crew(ctx)
        if action == "add":
            if len(args) != 2:
                raise UsageError("say which agent and its role: /crew add <@agent> <role>")
            view = await self.crews.add_member(crew_id, ctx.invoker, args[0], args[1])
            return CommandResult(f"{bare(args[0])} joined the crew as {args[1].lower()}.",
                                 metadata={"crew": {"id": crew_id, "members": len(
                                     view["members"])}})
        if action == "remove":
            if len(args) != 1:
                raise UsageError("say which agent: /crew remove <@agent>")
            await self.crews.remove_member(crew_id, ctx.invoker, args[0])
            return CommandResult(f"{bare(args[0])} left the crew.",
                                 metadata={"crew": {"id": crew_id}})
        if action == "end":
            await self.crews.end(crew_id, ctx.invoker)
            return CommandResult("The crew ended; its board and feed stay readable.",
                                 metadata={"crew": {"id": crew_id, "state": "ended"}})
        raise UsageError(f"unknown action {action!r}; use start, add, remove, end or status")

    async def task(self, ctx: CommandContext) -> CommandResult:
        """Show the crew's board, add a task, assign one or set its status."""
        crew_id = await self._room_crew(ctx)
        action = (ctx.args.get("action") or "list").lower()
        args = words(ctx.args.get("details"))
        if action == "list":
            found = await self.work.tasks(crew_id, ctx.invoker.id)
            if not found:
                return CommandResult("The board is empty.", ephemeral=True,
                                     metadata={"tasks": []})
            lines = ["| id | task | status | assignee |", "|---|---|---|---|"]
            for task in found:
                title = task["title"].replace("|", "\\|")
                lines.append(f"| {task['id'][-8:]} | {title} | {task['status']} | "
                             f"{bare(task['assignee'])} |")
            return CommandResult("\n".join(lines), ephemeral=True, metadata={"tasks": [
                {"id": t["id"], "status": t["status"]} for t in found]})
        if action == "add":
            title = ctx.args.get("details")
            if not title:
                raise UsageError("say what the task is: /task add <title...>")
            task = await self.work.create_task(crew_id, ctx.invoker, {"title": title})
            return CommandResult(f"Task added: {task['title']} ({task['id'][-8:]})",
                                 metadata={"task": {"id": task["id"], "status": task["status"]}})
        if action in ("assign", "set"):
            if len(args) != 2:
                raise UsageError("/task assign <id> <@agent>, or /task set <id> <status>")
            change = {"assignee": args[1]} if action == "assign" else {"status": args[1]}
            if action == "set" and args[1] not in TASK_STATES:
                raise UsageError(f"status must be one of {', '.join(TASK_STATES)}")
            task = await self.work.update_task(crew_id, args[0], ctx.invoker, change)
            return CommandResult(f"Task {task['title']}: {task['status'].replace('_', ' ')}"
                                 + (f", {bare(task['assignee'])}" if task["assignee"] else ""),
                                 metadata={"task": {"id": task["id"], "status": task["status"],
                                                    "assignee_id": task["assignee_id"]}})
        raise UsageError(f"unknown action {action!r}; use list, add, assign or set")


def register_crew_commands(registry: CommandRegistry, crews: CrewService, work: CrewWork
                           ) -> None:
    """Add /crew and /task to a registry, as built-ins."""
    handlers = CrewCommands(crews, work)
    registry.register(Command(
        "crew", "Start a crew in this room (a lead agent and a goal), add or remove members, "
        "end it, or show its status.", handlers.crew,
        args=(Arg("action", required=False), Arg("details", required=False, rest=True)),
        example="/crew start @planner ship the login page", action=Action.READ,
        family=FAMILY))
    registry.register(Command(
        "task", "Show the room's crew board, add a task, assign one or set its status.",
        handlers.task,
        args=(Arg("action", required=False), Arg("details", required=False, rest=True)),
        example="/task add write the migration", action=Action.READ, family=FAMILY))
