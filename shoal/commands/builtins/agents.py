"""/boot and /agent customize: making and shaping the house's builtin agents from chat."""

from __future__ import annotations

from shoal.agents.config import EDITABLE, SECRET_FIELDS, apply_patch, load_config
from shoal.agents.editing import edit_bot_config, parse_setting
from shoal.auth.accounts import create_bot
from shoal.commands.parser import ParseError, tokenize
from shoal.commands.registry import Arg, Command, CommandContext, CommandResult, UsageError
from shoal.errors import Forbidden
from shoal.rooms.access import RANK
from shoal.rooms.houses import add_house_member
from shoal.store.tables import User


async def boot(ctx: CommandContext) -> CommandResult:
    """Create a verified builtin bot owned by the invoker, in this house and this room."""
    if ctx.invoker.kind == "bot":
        raise Forbidden("agents cannot boot other agents")
    persona = ctx.flags.get("persona", "")
    if persona is True:
        raise UsageError('--persona needs a text, e.g. --persona "You review pull requests."')
    async with ctx.services.db.write() as session:
        bot = await create_bot(session, ctx.args["name"], ctx.invoker.id, verified=True)
        bot.config = apply_patch({}, {"runtime": "builtin", "system_prompt": persona},
                                 ctx.services.secrets)
        member = await add_house_member(session, ctx.room.house_id, bot, "member")
    await ctx.services.membership.add_member(ctx.room, bot.id)
    # No @handle in the text: a posted mention would wake the new bot at once.
    return CommandResult(
        f"{ctx.invoker.display_name} booted {bot.display_name} into #{ctx.room.slug}; "
        f"mention its handle, {member.handle}, to talk to it.",
        metadata={"agent": {"id": bot.id, "username": bot.username, "handle": member.handle}})


async def agent(ctx: CommandContext) -> CommandResult:
    """Change one setting of a bot: its owner or a house admin may."""
    if ctx.args["action"].lower() != "customize":
        raise UsageError(f"unknown action {ctx.args['action']!r}; the action is customize")
    key = ctx.args["key"]
    if key in SECRET_FIELDS:
        raise UsageError(f"{key} is a secret; set it with the API or `shoal bot edit`, "
                         "not in a chat message")
    if key not in EDITABLE:
        raise UsageError(f"unknown key {key!r}; keys: "
                         f"{', '.join(sorted(EDITABLE - set(SECRET_FIELDS)))}")
    bot = await _house_bot(ctx, ctx.args["handle"])
    if bot.owner_id != ctx.invoker.id and RANK.get(ctx.access.role or "", 0) < RANK["admin"]:
        raise Forbidden("only the agent's owner or a house admin may customize it")
    value = parse_setting(key, _unquoted(ctx.args["value"]), load_config(bot.config))
    services = ctx.services
    await edit_bot_config(services.db, services.secrets, services.models.catalog, bot.id,
                          {key: value}, services.models.outbound)
    return CommandResult(f"{ctx.invoker.display_name} set {key} of {bot.display_name}.",
                         metadata={"agent": {"id": bot.id}, "key": key})


def _unquoted(text: str) -> str:
    # The value is the rest of the line as typed; a value wholly in quotes means its contents
    # (JSON like {"deny":["x"]} has quotes inside and stays as typed).
    if len(text) < 2 or text[0] not in "\"'" or text[-1] != text[0]:
        return text
    try:
        tokens = tokenize(text)
    except ParseError:
        return text
    return tokens[0].text if len(tokens) == 1 else text


async def _house_bot(ctx: CommandContext, handle: str) -> User:
    target = await ctx.services.membership.find_member_by_handle(ctx.room.house_id, handle)
    if target is None or target.kind != "bot" or target.deleted_at is not None:
        raise UsageError(f"no agent in this house is {handle}")
    return target


COMMANDS = [
    Command("boot", "Create a builtin agent in this house and room, owned by you.", boot,
            args=(Arg("name"),), example='/boot Scout --persona "You find things, briefly."',
            family="agents"),
    Command("agent", "Change a setting of an agent you own (admins: any agent).", agent,
            args=(Arg("action"), Arg("handle"), Arg("key"), Arg("value", rest=True)),
            example='/agent customize @scout system_prompt "Answer in one line."',
            family="agents"),
]
