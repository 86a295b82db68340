"""/subagents: the room's sub-agents (state, task, parent, age, tokens), and
`/subagents kill <id>` for the parent's owner, the person who asked, and house admins."""

from __future__ import annotations

from datetime import datetime

from shoal.commands.registry import (
    Arg,
    Command,
    CommandContext,
    CommandRegistry,
    CommandResult,
    UsageError,
)
from shoal.rooms.access import Action
from shoal.store.tables import utcnow

MAX_TASK_SHOWN = 60


def age(created_at: str | None, now: datetime) -> str:
    """How long ago, briefly: 45s, 12m, 3h, 2d."""
    if not created_at:
        return "-"
    seconds = max(0, int((now - datetime.fromisoformat(created_at)).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


async def subagents(ctx: CommandContext) -> CommandResult:
    """List the room's sub-agents, or kill one."""
    action = ctx.args.get("action")
    if action is None or action == "list":
        found = await ctx.services.subagents.list_room(ctx.room.id, ctx.invoker.id)
        if not found:
            return CommandResult("No sub-agents in this room.", ephemeral=True,
                                 metadata={"subagents": []})
        now = utcnow()
        lines = ["| id | state | task | parent | age | tokens |", "|---|---|---|---|---|---|"]
        for sub in found:
            task = sub["label"] or sub["task"]
            task = task if len(task) <= MAX_TASK_SHOWN else task[: MAX_TASK_SHOWN - 1] + "…"
            task = task.replace("|", "\\|").replace("\n", " ")
            tokens = sub["input_tokens"] + sub["output_tokens"]
            lines.append(f"| {sub['id']} | {sub['state']} | {task} | {sub['parent']} | "
                         f"{age(sub['created_at'], now)} | {tokens} |")
        return CommandResult("\n".join(lines), ephemeral=True,
                             metadata={"subagents": [{"id": s["id"], "state": s["state"]}
                                                     for s in found]})
    if action == "kill":
        sub_id = ctx.args.get("id")
        if not sub_id:
            raise UsageError("say which sub-agent: /subagents kill <id>")
        await ctx.services.subagents.kill(sub_id, ctx.invoker)
        return CommandResult(f"Sub-agent {sub_id} killed.", ephemeral=True,
                             metadata={"subagent": {"id": sub_id, "state": "killed"}})
    raise UsageError(f"unknown action {action!r}; use list or kill")


COMMANDS = [
    Command("subagents", "List this room's sub-agents (state, task, parent, age, tokens), or "
            "kill one.", subagents, args=(Arg("action", required=False),
                                          Arg("id", required=False)),
            example="/subagents kill 0192f0c1-...", action=Action.READ, family="sessions"),
]


def register_subagent_commands(registry: CommandRegistry) -> None:
    """Add /subagents to a registry, as a built-in."""
    for command in COMMANDS:
        registry.register(command)
