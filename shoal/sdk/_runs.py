"""`Run`: one piece of an agent's work that people watch live, approve, stop or redirect."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, overload

from shoal.sdk._errors import ShoalSDKError
from shoal.sdk._models import CommandResult, Interrupt, Message
from shoal.sdk._trace import format_duration

if TYPE_CHECKING:
    from shoal.sdk._agent import Agent

_COMMAND: Any = object()  # no input given: the tool is a slash command Shoal runs


class Run:
    """Sends the contract's `agent-run-*` events for one run; `Agent.start_run` makes one."""

    def __init__(self, agent: Agent, room_id: str, trigger_id: str | None, name: str | None,
                 description: str | None) -> None:
        self.id = uuid.uuid4().hex
        self.room_id = room_id
        self.transcript: list[dict[str, Any]] = []  # what this agent sent, in order
        self._agent = agent
        self._trigger_id = trigger_id
        self._name, self._description = name, description
        self._interrupted = False
        self._callbacks: list[Callable[[Interrupt], Any]] = []
        self._pending: dict[str, asyncio.Future[bool]] = {}

    @property
    def interrupted(self) -> bool:
        """Whether someone stopped the run; the agent should wind down."""
        return self._interrupted

    def on_interrupt(self, callback: Callable[[Interrupt], Any]) -> Callable[[Interrupt], Any]:
        """Call `callback` (sync or async) with each stop or adjust; usable as a decorator."""
        self._callbacks.append(callback)
        return callback

    async def set_status(self, status: str) -> None:
        """Show what the agent is doing now ("diagnosing...")."""
        await self._send("agent-run-status", {"status": status})

    @overload
    async def tool_call(self, tool: str, *, timeout: float = 15) -> CommandResult: ...

    @overload
    async def tool_call(self, tool: str, input: Any) -> ToolCall: ...

    async def tool_call(self, tool: str, input: Any = _COMMAND, *, timeout: float = 15
                        ) -> CommandResult | ToolCall:
        """With a slash command alone (`tool_call("/get known-issues")`): run it silently,
        draw its card with the result, and return the result (CommandError, with the card
        marked as an error, when it fails). With an input (`tool_call("search", {...})`),
        for a tool the agent runs itself: show a running card; report with `result()`."""
        if input is not _COMMAND:
            call = ToolCall(self, tool)
            await self._send("agent-run-tool-call", {"toolCallId": call.id, "tool": tool,
                                                     "input": input, "status": "running"})
            return call
        text = tool if tool.startswith("/") else f"/{tool}"
        call = await self.tool_call(text[1:].split(" ", 1)[0], text)
        try:
            result = await self._agent.execute_command(text, timeout, room=self.room_id)
        except ShoalSDKError as exc:
            await call.result(exc.message, status="error")
            raise
        await call.result(result.content)
        return result

    def create_stream(self) -> Stream:
        """A message streamed into the room piece by piece; `finish()` stores it."""
        return Stream(self)

    async def request_permission(self, action: str, description: str,
                                 timeout: float = 120) -> bool:
        """Ask people to approve `action`; True if approved. Denied, stopped or unanswered
        within `timeout` seconds is False."""
        if self._interrupted:
            return False
        permission_id = uuid.uuid4().hex
        answer = self._pending[permission_id] = asyncio.get_running_loop().create_future()
        try:
            await self._send("agent-run-permission", {
                "permissionId": permission_id, "action": action, "description": description,
                "timeout": timeout})
            return await asyncio.wait_for(answer, timeout)
        except TimeoutError:
            return False
        finally:
            self._pending.pop(permission_id, None)

    async def record(self, type: str, data: dict[str, Any]) -> None:
        """Add a custom record to the run's transcript: Shoal's `agent-run-record` event,
        `{kind: type, data}` (`type` on the wire names the transcript entry itself)."""
        await self._send("agent-run-record", {"kind": type, "data": data})

    async def complete(self, summary: str) -> None:
        """End the run successfully with a one-line summary."""
        await self._end("agent-run-complete", {"summary": summary})

    async def error(self, message: str) -> None:
        """End the run as failed, saying why."""
        await self._end("agent-run-error", {"error": message})

    async def _start(self) -> None:
        user = self._agent.user
        await self._send("agent-run-start", {
            "agentId": user.get("id"), "username": user.get("username"),
            "displayName": user.get("display_name"), "triggerMessageId": self._trigger_id,
            "name": self._name, "description": self._description})

    async def _end(self, event: str, data: dict[str, Any]) -> None:
        await self._send(event, {**data, "transcript": list(self.transcript)})
        self._agent._runs.pop(self.id, None)

    async def _send(self, event: str, data: dict[str, Any], *, ack: bool = True
                    ) -> dict[str, Any]:
        payload = {"runId": self.id, "agencyId": self.room_id, **data}
        if not ack:
            await self._agent._emit(event, payload)
            return {}
        # Deltas stay out of the transcript: the final stream event carries the whole text.
        if event not in ("agent-run-complete", "agent-run-error"):
            self.transcript.append({"event": event, **data})
        return await self._agent._call(event, payload)

    def _receive(self, event: str, data: dict[str, Any]) -> None:
        """An event the server addressed to this run."""
        if event == "agent-run-permission-response":
            answer = self._pending.get(str(data.get("permissionId")))
            if answer is not None and not answer.done():
                answer.set_result(data.get("decision") == "approve")
            return
        interrupt = Interrupt("stop" if data.get("action") == "stop" else "adjust",
                              data.get("message"))
        if interrupt.action == "stop":
            self._interrupted = True
            for answer in self._pending.values():
                if not answer.done():
                    answer.set_result(False)
        for callback in self._callbacks:
            self._agent._spawn(callback, interrupt)


class ToolCall:
    """A tool card in progress; `result()` completes it with the output and the duration."""

    def __init__(self, run: Run, tool: str) -> None:
        self.id = uuid.uuid4().hex
        self.tool = tool
        self._run = run
        self._started = time.perf_counter()

    async def result(self, output: Any, status: str = "done") -> None:
        """Report the tool's output; `status` is "done" or "error"."""
        await self._run._send("agent-run-tool-result", {
            "toolCallId": self.id, "tool": self.tool, "output": output,
            "duration": format_duration(time.perf_counter() - self._started), "status": status})


class Stream:
    """Text streamed into the room; each `push` relays a delta with the content so far."""

    def __init__(self, run: Run) -> None:
        self.message_id = uuid.uuid4().hex
        self.content = ""
        self._run = run

    async def push(self, delta: str) -> None:
        """Append `delta` and relay it (no ack is awaited, so streaming stays fast)."""
        self.content += delta
        await self._run._send("agent-run-stream", {
            "messageId": self.message_id, "delta": delta, "content": self.content,
            "done": False}, ack=False)

    async def finish(self, metadata: dict[str, Any] | None = None) -> Message | None:
        """Send the final content; Shoal stores it as one message with `metadata.run_id`,
        which is returned (None from a server that does not say)."""
        data: dict[str, Any] = {"messageId": self.message_id, "content": self.content,
                                "done": True}
        if metadata is not None:
            data["metadata"] = metadata
        ack = await self._run._send("agent-run-stream", data)
        stored = ack.get("message")
        return Message.from_wire(stored) if isinstance(stored, dict) else None
