"""The Python SDK for agents that run in their own process and talk to Shoal (or any server
speaking the Crustocean contract): messages, commands, traces, runs and sub-agents.

    async with Agent("http://127.0.0.1:8420", agent_token) as agent:
        await agent.join("lobby")
        agent.on("message", reply_when_mentioned)
        await agent.wait_closed()
"""

from shoal.sdk._agent import Agent
from shoal.sdk._errors import (
    AuthError,
    CommandError,
    CommandTimeout,
    NotConnected,
    RequestError,
    ShoalSDKError,
)
from shoal.sdk._guard import (
    create_loop_guard_metadata,
    should_respond,
    should_respond_with_guard,
)
from shoal.sdk._models import CommandResult, Interrupt, Message
from shoal.sdk._runs import Run, Stream, ToolCall
from shoal.sdk._subagents import Subagent
from shoal.sdk._trace import Trace

__all__ = [
    "Agent",
    "AuthError",
    "CommandError",
    "CommandResult",
    "CommandTimeout",
    "Interrupt",
    "Message",
    "NotConnected",
    "RequestError",
    "Run",
    "ShoalSDKError",
    "Stream",
    "Subagent",
    "ToolCall",
    "Trace",
    "create_loop_guard_metadata",
    "should_respond",
    "should_respond_with_guard",
]
