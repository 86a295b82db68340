"""A self-healing agent: when an alert mentions it (typically a hook or system message), it
gathers what the room knows, silently, in a trace, and replies once with the trace attached.

    .venv/bin/python examples/self_healing.py --url http://127.0.0.1:8420 --token shb_... [--room lobby]
"""

from __future__ import annotations

import argparse
import asyncio

from shoal.sdk import Agent, Message, create_loop_guard_metadata, should_respond_with_guard


def attach(agent: Agent) -> None:
    """Answer every alert that mentions the agent."""

    @agent.on("message")
    async def diagnose(msg: Message) -> None:
        if msg.sender_id == agent.user.get("id") or not should_respond_with_guard(
                msg, agent.username):
            return
        # Probes run silently: the room sees only the one reply, with the steps in its trace.
        trace = agent.start_trace()
        known = await trace.command("/get known-issues")
        notes = await trace.command("/notes")
        if known.ok:
            finding = f"This looks like a known issue. {known.content}"
        else:
            finding = "No known issue matches; a person should take a look."
        reply = f"{finding}\n{notes.content}" if notes.ok else finding
        await agent.send(reply, room=msg.agency_id,
                         metadata={**trace.finish(), **create_loop_guard_metadata(msg)})


async def main(url: str, token: str, room: str | None) -> None:
    """Connect, join `room` (or every room the agent is in) and serve until interrupted."""
    async with Agent(url, token) as agent:
        rooms = [await agent.join(room)] if room else await agent.join_all()
        attach(agent)
        print(f"@{agent.username} is watching {len(rooms)} room(s) for alerts")
        await agent.wait_closed()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8420")
    parser.add_argument("--token", required=True, help="the bot's agent token (shb_...)")
    parser.add_argument("--room", help="a room id or slug; default: every room it is in")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.token, args.room))
