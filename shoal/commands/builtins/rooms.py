"""/who, /agency create, /invite, /bind, /unbind: rooms and the people and bots in them."""

from __future__ import annotations

from shoal.commands.registry import Arg, Command, CommandContext, CommandResult, UsageError
from shoal.rooms.access import Action, authorize
from shoal.rooms.bindings import binding_of
from shoal.rooms.rooms import create_room


async def who(ctx: CommandContext) -> CommandResult:
    """List the room's members with role and presence."""
    members = await ctx.services.membership.members_payload(ctx.room)
    async with ctx.services.db.read() as session:
        binding = await binding_of(session, ctx.room)
    lines = [
        f"@{m['handle']} ({m['type']}, {m['role']}){' - online' if m['online'] else ''}"
        for m in members
    ]
    if binding is not None:
        lines.append(f"Bound to @{binding['handle']}: it answers every message here.")
    return CommandResult(f"In #{ctx.room.slug}:\n" + "\n".join(lines), ephemeral=True,
                         metadata={"members": members, "binding": binding})


async def agency(ctx: CommandContext) -> CommandResult:
    """Create a new room in this house."""
    if ctx.args["action"].lower() != "create":
        raise UsageError(f"unknown action {ctx.args['action']!r}; the action is create")
    authorize(ctx.access, Action.CREATE_ROOM)
    private = ctx.flags.get("private") is True
    async with ctx.services.db.write() as session:
        room = await create_room(session, ctx.room.house_id, ctx.args["name"], ctx.invoker.id,
                                 is_private=private)
    await ctx.services.membership.announce_room(ctx.invoker.id, room)
    return CommandResult(f"Created room #{room.slug}.",
                         metadata={"agency": {"id": room.id, "slug": room.slug}})


async def invite(ctx: CommandContext) -> CommandResult:
    """Add a member of the house to this room."""
    membership = ctx.services.membership
    target = await membership.find_member_by_handle(ctx.room.house_id, ctx.args["handle"])
    if target is None:
        raise UsageError(f"no one in this house is {ctx.args['handle']}")
    added = await membership.add_member(ctx.room, target.id)
    if not added:
        return CommandResult(f"@{target.username} is already in #{ctx.room.slug}.",
                             ephemeral=True)
    return CommandResult(f"{ctx.invoker.display_name} invited @{target.username} to "
                         f"#{ctx.room.slug}.")


async def bind(ctx: CommandContext) -> CommandResult:
    """Bind this room to an agent of the house: it answers every message unmentioned."""
    binding = await ctx.services.membership.bind(ctx.room, ctx.args["agent"], ctx.invoker.id)
    assert binding.agent is not None and binding.view is not None
    # No @handle in the text: a posted mention would wake the agent.
    return CommandResult(
        f"{ctx.invoker.display_name} bound #{ctx.room.slug} to {binding.agent.display_name}: "
        "it now answers every message here without being mentioned.",
        metadata={"binding": binding.view})


async def unbind(ctx: CommandContext) -> CommandResult:
    """Unbind this room: its agent answers only when mentioned again."""
    async with ctx.services.db.read() as session:
        bound = await binding_of(session, ctx.room)
    if bound is None:
        return CommandResult(f"#{ctx.room.slug} is not bound to an agent.", ephemeral=True)
    await ctx.services.membership.bind(ctx.room, None, ctx.invoker.id)
    return CommandResult(
        f"{ctx.invoker.display_name} unbound #{ctx.room.slug} from {bound['handle']}, which "
        "now answers here only when mentioned.", metadata={"binding": None, "unbound": bound})


COMMANDS = [
    Command("who", "List who is in this room.", who, example="/who", action=Action.READ,
            family="rooms"),
    Command("agency", "Create a new room in this house (--private for a private one).", agency,
            args=(Arg("action"), Arg("name")), example='/agency create "Design Review" --private',
            family="rooms"),
    Command("invite", "Add a member of this house to this room.", invite,
            args=(Arg("handle"),), example="/invite @archive-bot", family="rooms"),
    Command("bind", "Bind this room to an agent: it answers every message here without being "
            "mentioned (room admins).", bind, args=(Arg("agent"),), example="/bind @front-desk",
            action=Action.MODERATE, family="rooms"),
    Command("unbind", "Unbind this room from its agent (room admins).", unbind,
            example="/unbind", action=Action.MODERATE, family="rooms"),
]
