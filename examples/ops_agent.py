"""An ops agent that works in a run people can watch: asked to restart a service, it checks the
room's notes as a tool, asks permission, streams what it did and completes. (The restart itself
is pretended; put your own there.)

    .venv/bin/python examples/ops_agent.py --url http://127.0.0.1:8420 --token shb_... [--room lobby]
    then, in the room:  @<bot> restart web
"""

from __future__ import annotations

import argparse
import asyncio

from shoal.sdk import (
    Agent,
    CommandError,
    Message,
    create_loop_guard_metadata,
    should_respond_with_guard,
)


def attach(agent: Agent, permission_timeout: float = 120) -> None:
    """Handle every "@agent restart <service>" in a run."""

    @agent.on("message")
    async def restart(msg: Message) -> None:
        if msg.sender_id == agent.user.get("id") or not should_respond_with_guard(
                msg, agent.username):
            return
        words = msg.content.split()
        service = words[words.index("restart") + 1] if "restart" in words[:-1] else "web"
        run = await agent.start_run(msg, name=f"restart {service}",
                                    description=f"Check {service}, then restart it if allowed")
        await run.set_status(f"checking {service}...")
        call = await run.tool_call("notes", {"args": ""})
        try:
            notes = await agent.execute_command("/notes", room=msg.agency_id)
            await call.result(notes.content)
        except CommandError as exc:
            await call.result(exc.message, status="error")
        await run.set_status("waiting for approval")
        approved = await run.request_permission(
            f"restart {service}", f"Restart {service}; open connections drop for a few seconds.",
            timeout=permission_timeout)
        if run.interrupted:
            text, summary = f"Stopped; {service} was left alone.", "stopped by a person"
        elif approved:
            await run.record("restart", {"service": service})
            text, summary = f"Restarted {service}; it is healthy again.", f"{service} restarted"
        else:
            text, summary = f"Not restarting {service}: permission denied.", "permission denied"
        stream = run.create_stream()
        for word in text.split(" "):
            await stream.push(word + " ")
        await stream.finish(metadata=create_loop_guard_metadata(msg))
        await run.complete(summary)


async def main(url: str, token: str, room: str | None) -> None:
    """Connect, join `room` (or every room the agent is in) and serve until interrupted."""
    async with Agent(url, token) as agent:
        rooms = [await agent.join(room)] if room else await agent.join_all()
        attach(agent)
        print(f"@{agent.username} takes restart requests in {len(rooms)} room(s)")
        await agent.wait_closed()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8420")
    parser.add_argument("--token", required=True, help="the bot's agent token (shb_...)")
    parser.add_argument("--room", help="a room id or slug; default: every room it is in")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.token, args.room))
