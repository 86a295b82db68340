"""/cron: agent turns on a schedule, delivered to this room (house admins and owners)."""

from __future__ import annotations

from shoal.commands.parser import ParseError, tokenize
from shoal.commands.registry import Arg, Command, CommandContext, CommandResult, UsageError
from shoal.schedules.cron import (
    When,
    create_job,
    delete_job,
    describe_schedule,
    find_job,
    house_jobs,
    job_views,
    set_job_enabled,
    short_id,
)
from shoal.schedules.heartbeat_command import agent_named, house_time, require_admin

ADD_USAGE = ('/cron add @agent "<cron expression>" [--tz Zone] <prompt>, or --every <interval>, '
             "or --at <time> (once); --silent keeps the answer out of the room, --history "
             "gives the agent the room's recent messages")


SWITCHES = {"silent", "history"}
OPTIONS = {"every", "at", "tz"}


def split_add(raw_args: str) -> tuple[list[str], dict[str, str | bool]]:
    """`add @agent ... <prompt>` into words and options. Unlike the general parser, the
    switches --silent and --history take no value, so the prompt may follow them."""
    try:
        tokens = [t.text for t in tokenize(raw_args)]
    except ParseError as exc:
        raise UsageError(str(exc)) from None
    words: list[str] = []
    options: dict[str, str | bool] = {}
    index = 0
    while index < len(tokens):
        token = tokens[index]
        name = token[2:].split("=", 1)[0] if token.startswith("--") else ""
        if name in SWITCHES:
            options[name] = True
        elif name in OPTIONS:
            if "=" in token:
                options[name] = token.split("=", 1)[1]
            elif index + 1 < len(tokens):
                index += 1
                options[name] = tokens[index]
            else:
                raise UsageError(f"--{name} needs a value")
        elif name:
            raise UsageError(f"unknown option --{name}; options: --every, --at, --tz, "
                             "--silent, --history")
        else:
            words.append(token)
        index += 1
    return words, options


async def cron(ctx: CommandContext) -> CommandResult:
    """Add, list, remove, run, enable or disable the house's cron jobs."""
    require_admin(ctx, "manage cron jobs")
    action = ctx.args["action"].lower()
    if action == "add":
        return await _add(ctx)
    if action == "list":
        return await _list(ctx)
    if action not in ("remove", "run-now", "enable", "disable"):
        raise UsageError(f"unknown action {action!r}; actions: add, list, remove, run-now, "
                         "enable, disable")
    ref = ctx.parsed.positional[1] if len(ctx.parsed.positional) > 1 else ""
    if not ref:
        raise UsageError(f"give the job's id: /cron {action} <id> (see /cron list)")
    now = ctx.services.schedules.clock()
    async with ctx.services.db.write() as session:
        job = await find_job(session, ctx.room.house_id, ref)
        name = f"Cron job {short_id(job)}"
        if action == "remove":
            await delete_job(session, job)
            answer = f"{name} removed."
        elif action == "run-now":
            if not job.enabled:
                raise UsageError(f"{name} is disabled; /cron enable {short_id(job)} first")
            answer = f"{name} is running now."
        else:
            await set_job_enabled(session, job, action == "enable", now)
            answer = f"{name} {action}d."
    if action == "run-now":
        await ctx.services.schedules.run_cron_job(job.id)
    ctx.services.schedules.wake()
    return CommandResult(answer, metadata={"cron": {"id": job.id}})


async def _add(ctx: CommandContext) -> CommandResult:
    words, options = split_add(ctx.parsed.raw_args)
    words = words[1:]  # "add"
    if not words:
        raise UsageError(ADD_USAGE)
    agent = await agent_named(ctx, words[0])
    every, at = options.get("every"), options.get("at")
    expression = None
    rest = words[1:]
    if every is None and at is None:
        if not rest:
            raise UsageError(ADD_USAGE)
        expression, rest = rest[0], rest[1:]
    when = When(expression=expression, every=str(every) if every else None,
                at=str(at) if at else None, timezone=str(options.get("tz") or "UTC"))
    async with ctx.services.db.write() as session:
        job = await create_job(
            session, house_id=ctx.room.house_id, room_id=ctx.room.id, bot_id=agent.id,
            when=when, prompt=" ".join(rest), deliver=options.get("silent") is not True,
            with_history=options.get("history") is True, created_by=ctx.invoker.id,
            now=ctx.services.schedules.clock())
        [view] = await job_views(session, [job])
    ctx.services.schedules.wake()
    where = "here" if job.deliver else "silently"
    readable = await house_time(ctx)
    return CommandResult(
        f"Cron job {short_id(job)} added: {agent.display_name} runs "
        f"{describe_schedule(job, readable)}, next at {readable(view['next_run_at'])}, "
        f"answering {where}.", metadata={"cron": view})


async def _list(ctx: CommandContext) -> CommandResult:
    async with ctx.services.db.read() as session:
        jobs = await house_jobs(session, ctx.room.house_id)
        views = await job_views(session, jobs)
    readable = await house_time(ctx)
    if not views:
        return CommandResult("No cron jobs in this house. Add one: " + ADD_USAGE,
                             ephemeral=True)
    lines = [f"Cron jobs ({len(views)}):"]
    for job, v in zip(jobs, views, strict=True):
        state = f"next {readable(v['next_run_at'])}" if v["enabled"] else "disabled"
        last = (f", last {readable(v['last_run_at'])} {v['last_outcome']}"
                if v["last_run_at"] else "")
        lines.append(f"  {v['short_id']} @{v['agent_handle']} "
                     f"{describe_schedule(job, readable)} ({state}{last}): {v['prompt']}")
    return CommandResult("\n".join(lines), ephemeral=True, metadata={"cron_jobs": views})


COMMANDS = [
    Command("cron", "Run an agent on a schedule (admins): add, list, remove, run-now, enable "
            "or disable jobs.", cron,
            args=(Arg("action"), Arg("details", required=False, rest=True)),
            example='/cron add @digest "0 9 * * 1-5" --tz Europe/Berlin Write the morning '
                    "digest", family="schedules"),
]
