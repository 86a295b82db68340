"""A builtin activation as a run: opened at its first tool call, so people can watch the
tool cards, approve gated tools, and stop or redirect it between model calls.

A tool card's events are written behind the call: they are queued in order and stored (and
then broadcast) in one transaction while the tool and the next model call run. Anything that
must come after them in the run (a permission request, the answer's stream, the run's end)
waits for the queue first, so the transcript's order is the order things happened."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from shoal.errors import Conflict, ShoalError
from shoal.store.tables import utcnow

if TYPE_CHECKING:
    from shoal.llm import ToolCall
    from shoal.runs.service import Event, RunService
    from shoal.runtime.base import ActivationContext, Outcome

log = logging.getLogger("shoal.runtime")
DENIED = "denied"
HANDED_BACK = "handed_back"  # the skip reason of a run whose worker stopped mid-run
TextSink = Callable[[str, str], Awaitable[None]]  # (delta, content so far)
UNSAFE_ID = re.compile(r"[^A-Za-z0-9_.:-]")


class ActivationRun:
    """The run of one builtin activation; nothing is recorded until `open` is called."""

    def __init__(self, runs: RunService, ctx: ActivationContext) -> None:
        self.ctx = ctx
        self.runs = runs
        self.run_id: str | None = None
        self._seen = 0  # the seq of the last interrupt taken
        self._queued: list[Event] = []  # tool card events not yet stored
        self._writer: asyncio.Task[None] | None = None
        self._failure: Exception | None = None  # why queued events could not be stored

    async def open(self, *, description: str | None = None,
                   extra: dict[str, Any] | None = None) -> str:
        """Start the run (once); `extra` goes into its start event."""
        if self.run_id is None:
            trigger = self.ctx.trigger or {}
            started = await self.runs.start(
                self.ctx.bot, self.ctx.room.id, trigger_message_id=trigger.get("id"),
                name=f"@{self.ctx.bot.username}",
                description=(description if description is not None
                             else str(trigger.get("content", "")))[:200],
                activation_id=self.ctx.activation.id, extra=extra)
            self.run_id = started["runId"]
        return self.run_id

    async def status(self, text: str) -> None:
        """Show what the bot is doing, when it is a run."""
        if self.run_id is not None:
            self._queue("status", {"status": text})

    def _queue(self, type: str, data: dict[str, Any]) -> None:
        self._queued.append((type, data, utcnow()))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        assert self.run_id is not None
        while self._queued:
            events, self._queued = self._queued, []
            try:
                await self.runs.add_many(self.run_id, self.ctx.bot.id, events)
            except Exception as exc:  # told at the next flush
                self._failure = exc

    async def flush(self) -> None:
        """Wait until every queued event is stored; a failure to store them is raised here."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            await writer
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    async def tool(self, call: ToolCall, label: str, gated: bool,
                   execute: Callable[[], Awaitable[str]]) -> str:
        """Run one tool call as a tool card (`label`: how people see it, `/save`); a gated
        one waits for a person's decision. A `ToolRun` of the tool registry."""
        run_id = await self.open()
        call_id = UNSAFE_ID.sub("_", call.id)[:64] or "call"
        self._queue("tool-call", {"toolCallId": call_id, "tool": call.name,
                                  "input": call.arguments, "status": "running"})
        started = time.monotonic()
        if gated:  # the card is stored before anyone is asked about it
            await self.flush()
            permission_id = f"perm-{call_id}"[:64]
            await self.runs.gates.request(run_id, self.ctx.bot, permission_id, label,
                                          json.dumps(call.arguments)[:2000])
            if not await self.runs.gates.wait(run_id, permission_id):
                self._result(call_id, call.name, DENIED, started, "error")
                return f"error: a person denied {label}; it was not run"
        await self.ctx.thinking(True, f"running {label}", running=True)
        await self.status(f"running {label}")
        output = await execute()
        self._result(call_id, call.name, output, started,
                     "error" if output.startswith("error:") else "done")
        return output

    def _result(self, call_id: str, tool: str, output: str, started: float, status: str
                ) -> None:
        self._queue("tool-result", {
            "toolCallId": call_id, "tool": tool, "output": output,
            "duration": f"{int((time.monotonic() - started) * 1000)}ms", "status": status})

    def reasoning_stream(self, step: int, *, think: bool = False) -> TextSink:
        """Where a model call's reasoning goes as it arrives (`think`: the <think> blocks of
        a model without native reasoning): into the run, which it opens if need be, as a
        collapsible section people watch grow; never into the room."""
        message_id = self._reasoning_id(step, think)

        async def push(delta: str, content: str) -> None:
            run_id = await self.open()
            await self.flush()
            await self.runs.streams.push_reasoning(run_id, self.ctx.bot, message_id, step,
                                                   delta, content)
        return push

    async def reasoning(self, step: int, text: str, *, think: bool = False) -> None:
        """Record a model call's whole reasoning in the run (opening it if need be), ending
        its live stream; never in the room."""
        run_id = await self.open()
        message_id = self._reasoning_id(step, think)
        self.runs.streams.drop(run_id, message_id)
        self._queue("record", {"messageId": message_id, "step": step, "reasoning": text,
                               "done": True})

    def _reasoning_id(self, step: int, think: bool) -> str:
        return f"{self._stream_id(step)}-{'think' if think else 'reasoning'}"

    async def interrupts(self) -> list[dict[str, Any]]:
        """Interrupts that arrived since the last look (from any process)."""
        if self.run_id is None:
            return []
        found = await self.runs.interrupts_after(self.run_id, self._seen)
        if found:
            self._seen = found[-1]["seq"]
        return found

    def text_stream(self, step: int) -> TextSink:
        """Where a model call's text goes as it arrives, once this is a run (it may become
        one during the call, when the model's reasoning opens it). A step that ends in tool
        calls leaves its stream unposted; the answering step's is posted."""

        async def push(delta: str, content: str) -> None:
            if self.run_id is None:
                return
            await self.flush()
            await self.runs.streams.push(self.run_id, self.ctx.bot, self._stream_id(step),
                                         delta, content)
        return push

    async def reply(self, step: int, text: str, metadata: dict[str, Any]) -> dict[str, Any]:
        """Post the answer as the run's streamed message (the activation's one reply)."""
        assert self.run_id is not None
        await self.flush()
        return await self.runs.streams.finish(self.run_id, self.ctx.bot, self._stream_id(step),
                                              text, metadata, lease_owner=self.ctx.lease_owner)

    async def keep(self, step: int, text: str) -> None:
        """End the answering step's stream with the answer, posting nothing."""
        if self.run_id is not None:
            await self.runs.streams.end(self.run_id, self.ctx.bot, self._stream_id(step), text)

    def _stream_id(self, step: int) -> str:
        return f"{self.ctx.activation.id}-{step}"

    async def close(self, outcome: Outcome) -> None:
        """End the run the way the activation ended."""
        if self.run_id is None:
            return
        try:
            await self.flush()
        except ShoalError as exc:  # the run was ended under it (time limit)
            log.warning("run %s lost tool card events: %s", self.run_id, exc.message)
        except Exception:
            log.exception("run %s lost tool card events", self.run_id)
        if outcome.outcome == "error":
            end = ("error", {"error": outcome.error}, "error")
        elif outcome.skip_reason == "interrupted":
            end = ("complete", {"summary": "stopped"}, "interrupted")
        elif outcome.skip_reason == HANDED_BACK:
            end = ("complete", {"summary": "its worker stopped; another one runs it again"},
                   "interrupted")
        else:
            end = ("complete", {"summary": outcome.outcome}, "completed")
        try:
            await self.runs.finish(self.run_id, self.ctx.bot.id, *end)
        except Conflict:
            pass  # already ended by Shoal (time limit)
