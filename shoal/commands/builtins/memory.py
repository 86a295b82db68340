"""/memory @agent [list | search <query> | forget <id>]: an agent's memory, for its owner and
the house's admins, showing only notes from rooms they can read themselves."""

from __future__ import annotations

from shoal.commands.registry import Arg, Command, CommandContext, CommandResult, UsageError
from shoal.memory.oversight import agent_notes, forget_agent_note, search_agent_memory
from shoal.memory.tables import note_view
from shoal.rooms.access import Action

SHOWN = 20
CHARS = 160


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= CHARS else text[:CHARS] + "…"


async def memory(ctx: CommandContext) -> CommandResult:
    """List, search or forget an agent's memory notes."""
    target = await ctx.services.membership.find_member_by_handle(ctx.room.house_id,
                                                                  ctx.args["handle"])
    if target is None or target.kind != "bot" or target.deleted_at is not None:
        raise UsageError(f"no agent in this house is {ctx.args['handle']}")
    words = (ctx.args.get("rest") or "list").split(maxsplit=1)
    action, rest = words[0].lower(), (words[1] if len(words) > 1 else "").strip()
    db = ctx.services.db
    if action == "list":
        async with db.read() as session:
            notes = await agent_notes(session, ctx.invoker.id, target.id, limit=SHOWN)
        if not notes:
            return CommandResult(f"{target.display_name} has no notes you can see.",
                                 ephemeral=True)
        lines = [f"- {n.id} ({n.scope}) {_short(n.text)}" for n in notes]
        return CommandResult(f"{target.display_name}'s memory, newest first:\n" +
                             "\n".join(lines), ephemeral=True,
                             metadata={"notes": [note_view(n) for n in notes]})
    if action == "search":
        if not rest:
            raise UsageError("say what to search for: /memory @agent search <query>")
        hits = await search_agent_memory(ctx.services.memory, ctx.invoker.id, target.id, rest,
                                         limit=SHOWN)
        if not hits:
            return CommandResult(f"Nothing in {target.display_name}'s memory matches {rest!r}.",
                                 ephemeral=True)
        lines = [f"- {h.item_id} ({h.scope}, score {h.score:.2f}) {_short(h.text)}"
                 for h in hits]
        return CommandResult("\n".join(lines), ephemeral=True,
                             metadata={"results": [h.view() for h in hits]})
    if action == "forget":
        if not rest:
            raise UsageError("say which note: /memory @agent forget <id>")
        async with db.write() as session:
            await forget_agent_note(session, ctx.invoker.id, target.id, rest.split()[0])
        return CommandResult(f"Forgot note {rest.split()[0]} of {target.display_name}.",
                             ephemeral=True)
    raise UsageError(f"unknown action {action!r}; use list, search <query> or forget <id>")


COMMANDS = [
    Command("memory", "See, search or forget an agent's memory notes (its owner and admins).",
            memory, args=(Arg("handle"), Arg("rest", required=False, rest=True)),
            example="/memory @scout search deploy day", action=Action.READ,
            family="notes"),
]
