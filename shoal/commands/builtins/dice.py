"""/echo and /roll: small commands that need nothing but their arguments."""

from __future__ import annotations

import re
import secrets

from shoal.commands.registry import Arg, Command, CommandContext, CommandResult, UsageError

DICE = re.compile(r"^(\d{1,3})d(\d{1,4})$", re.IGNORECASE)
MAX_DICE = 100
MAX_SIDES = 1000


async def echo(ctx: CommandContext) -> CommandResult:
    """Say the text back."""
    return CommandResult(ctx.args["text"])


async def roll(ctx: CommandContext) -> CommandResult:
    """Roll N dice of M sides."""
    match = DICE.match(ctx.args["dice"])
    if not match:
        raise UsageError("dice must look like NdM, e.g. 2d6")
    count, sides = int(match.group(1)), int(match.group(2))
    if not 1 <= count <= MAX_DICE or not 2 <= sides <= MAX_SIDES:
        raise UsageError(f"roll 1-{MAX_DICE} dice of 2-{MAX_SIDES} sides")
    rolls = [secrets.randbelow(sides) + 1 for _ in range(count)]
    shown = " + ".join(map(str, rolls)) if count > 1 else str(rolls[0])
    total = f" = {sum(rolls)}" if count > 1 else ""
    return CommandResult(
        f"{ctx.invoker.display_name} rolled {count}d{sides}: {shown}{total}",
        metadata={"rolls": rolls, "total": sum(rolls)},
    )


COMMANDS = [
    Command(
        name="echo",
        description="Post the text back as a system message.",
        handler=echo,
        args=(Arg("text", rest=True),),
        example="/echo hello, room",
    ),
    Command(
        name="roll",
        description="Roll dice: N dice with M sides each.",
        handler=roll,
        args=(Arg("dice"),),
        example="/roll 2d6",
    ),
]
