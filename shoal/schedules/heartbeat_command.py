"""/heartbeat: make an agent check in on a room every interval (house admins and owners)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from shoal.commands.registry import Arg, Command, CommandContext, CommandResult, UsageError
from shoal.errors import Forbidden
from shoal.rooms.access import RANK
from shoal.scheduler.tables import Heartbeat
from shoal.scheduler.timing import format_interval, house_zone, parse_interval, readable_time
from shoal.schedules.heartbeats import (
    MAX_PROMPT_CHARS,
    delete_heartbeat,
    find_heartbeat,
    heartbeat_views,
    set_enabled,
    set_heartbeat,
)
from shoal.schedules.targets import schedulable_agent
from shoal.store.tables import House, Room, User

TimeText = Callable[[datetime | str | None], str]


def require_admin(ctx: CommandContext, what: str) -> None:
    """Scheduling agents is for the house's admins and owners."""
    if RANK.get(ctx.access.role or "", 0) < RANK["admin"]:
        raise Forbidden(f"only house admins and owners can {what}")


async def agent_named(ctx: CommandContext, handle: str) -> User:
    """The agent the command names with its @handle."""
    if not handle.startswith("@"):
        raise UsageError(f"name the agent with its @handle, not {handle!r}")
    async with ctx.services.db.read() as session:
        return await schedulable_agent(session, ctx.room, handle)


async def house_time(ctx: CommandContext) -> TimeText:
    """How the command's answers write times (a datetime or an ISO string): as the house's
    people read them, in its time zone."""
    async with ctx.services.db.read() as session:
        house = await session.get(House, ctx.room.house_id)
    tz = house_zone(house.settings if house else None)
    now = ctx.services.schedules.clock()

    def text(value: datetime | str | None) -> str:
        if value is None:
            return "never"
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return readable_time(moment, tz, now)

    return text


async def heartbeat(ctx: CommandContext) -> CommandResult:
    """Set, pause, resume, re-prompt or delete an agent's heartbeat in this room, or list
    the house's heartbeats."""
    require_admin(ctx, "manage heartbeats")
    if "agent" not in ctx.args:
        return await _list(ctx)
    agent = await agent_named(ctx, ctx.args["agent"])
    setting = ctx.args.get("setting", "")
    word = setting.lower()
    now = ctx.services.schedules.clock()
    name = agent.display_name
    async with ctx.services.db.write() as session:
        if word in ("off", "on"):
            beat = await find_heartbeat(session, ctx.room.id, agent.id)
            await set_enabled(session, beat, word == "on", now)
            answer = f"Heartbeat of {name} is {word}."
        elif word == "delete":
            await delete_heartbeat(session, await find_heartbeat(session, ctx.room.id, agent.id))
            answer = f"Heartbeat of {name} deleted."
        elif word == "prompt":
            text = ctx.args.get("text", "").strip()
            if not text:
                raise UsageError("give the prompt text: /heartbeat @agent prompt <text>")
            if len(text) > MAX_PROMPT_CHARS:
                raise UsageError(f"the prompt is longer than {MAX_PROMPT_CHARS} characters")
            beat = await find_heartbeat(session, ctx.room.id, agent.id)
            beat.prompt, beat.updated_at = text, now
            answer = f"Heartbeat prompt of {name} updated."
        elif not setting:
            raise UsageError("give an interval (60s, 5m, 1h, 6h, 1d) or off, on, delete, prompt")
        else:
            if "text" in ctx.args:
                raise UsageError(f"unexpected text after the interval {setting}")
            seconds = parse_interval(setting)
            await set_heartbeat(session, house_id=ctx.room.house_id, room_id=ctx.room.id,
                                bot_id=agent.id, interval_seconds=seconds,
                                created_by=ctx.invoker.id, now=now)
            answer = f"Heartbeat set: {name} checks in every {format_interval(seconds)}."
    ctx.services.schedules.wake()
    return CommandResult(answer, metadata={"heartbeat": {"agentId": agent.id}})


async def _list(ctx: CommandContext) -> CommandResult:
    """The house's heartbeats, every room's, each naming its room."""
    async with ctx.services.db.read() as session:
        rows = (await session.execute(
            select(Heartbeat, Room.slug).join(Room, Room.id == Heartbeat.room_id)
            .where(Heartbeat.house_id == ctx.room.house_id)
            .order_by(Room.slug, Heartbeat.created_at))).tuples().all()
        views = await heartbeat_views(session, [beat for beat, _ in rows])
    readable = await house_time(ctx)
    if not views:
        return CommandResult("No heartbeats in this house. Set one: /heartbeat @agent 30m",
                             ephemeral=True)
    lines = [f"Heartbeats ({len(views)}):"]
    for view, (_, slug) in zip(views, rows, strict=True):
        state = f"next {readable(view['next_run_at'])}" if view["enabled"] else "off"
        lines.append(f"  @{view['agent_handle']} in #{slug} every {view['interval']} "
                     f"({state}): {view['prompt']}")
    return CommandResult("\n".join(lines), ephemeral=True, metadata={"heartbeats": views})


COMMANDS = [
    Command("heartbeat", "Make an agent check in on this room on a schedule (admins): "
            "@agent <interval>, @agent off|on|delete, @agent prompt <text>, or no arguments "
            "to list the house's heartbeats.", heartbeat,
            args=(Arg("agent", required=False), Arg("setting", required=False),
                  Arg("text", required=False, rest=True)),
            example="/heartbeat @ops 30m", family="schedules"),
]
