"""An LLM agent: answers mentions with a model through Shoal's model layer, the offline model
unless told otherwise (`--model sonnet`, `--model ollama/llama3.2`; keys from the environment).

    .venv/bin/python examples/llm_agent.py --url http://127.0.0.1:8420 --token shb_... [--model offline]
"""

from __future__ import annotations

import argparse
import asyncio

from shoal.llm import ChatMessage, ChatRequest, ModelRouter
from shoal.sdk import Agent, Message, create_loop_guard_metadata, should_respond_with_guard

CONTEXT_MESSAGES = 20


def attach(agent: Agent, model: str, router: ModelRouter | None = None) -> None:
    """Answer every message that mentions the agent with `model`."""
    models = router or ModelRouter()

    @agent.on("message")
    async def answer(msg: Message) -> None:
        me = agent.user.get("id")
        if msg.sender_id == me or not should_respond_with_guard(msg, agent.username):
            return
        recent = await agent.get_recent_messages(CONTEXT_MESSAGES, room=msg.agency_id)
        # The agent's own messages are its turns; everyone else's are user turns, by handle.
        turns = [ChatMessage("assistant", m.content) if m.sender_id == me
                 else ChatMessage("user", f"@{m.sender_username}: {m.content}") for m in recent]
        if not any(m.id == msg.id for m in recent):
            turns.append(ChatMessage("user", f"@{msg.sender_username}: {msg.content}"))
        request = ChatRequest(turns, system=f"You are @{agent.username}, an agent in a chat "
                                            "room. Answer briefly.")
        completion = await models.complete(request, [model])
        await agent.send(completion.text or "(no answer)", room=msg.agency_id,
                         metadata={"model": completion.model, **create_loop_guard_metadata(msg)})


async def main(url: str, token: str, room: str | None, model: str) -> None:
    """Connect, join `room` (or every room the agent is in) and serve until interrupted."""
    async with Agent(url, token) as agent:
        rooms = [await agent.join(room)] if room else await agent.join_all()
        attach(agent, model)
        print(f"@{agent.username} answers mentions in {len(rooms)} room(s) with {model}")
        await agent.wait_closed()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8420")
    parser.add_argument("--token", required=True, help="the bot's agent token (shb_...)")
    parser.add_argument("--room", help="a room id or slug; default: every room it is in")
    parser.add_argument("--model", default="offline", help="a model reference or alias")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.token, args.room, args.model))
