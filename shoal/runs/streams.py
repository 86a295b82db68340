"""Token streams of a run: relayed coalesced, checkpointed now and then, posted once."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shoal.runs.views import WIRE_EVENTS
from shoal.store.tables import User

if TYPE_CHECKING:
    from shoal.realtime.gateway import Gateway
    from shoal.rooms.chat import Chat
    from shoal.runs.service import RunService
    from shoal.store.db import Database

RELAY_SECONDS = 0.04  # at most one relayed event per stream in this window
CHECKPOINT_SECONDS = 1.0  # the transcript keeps the content so far this often


@dataclass
class Stream:
    """What this process knows of one live stream."""

    room_id: str
    seq: int  # the run's latest stored seq when last relayed
    started: float
    content: str = ""
    pending: str = ""  # deltas not relayed yet
    relayed_at: float = 0.0
    checkpoint_at: float = 0.0
    flush: asyncio.Task[None] | None = field(default=None, repr=False)
    step: int | None = None  # set on a reasoning stream: the model call it belongs to

    def event(self, message_id: str, delta: str, *, first: bool = False
              ) -> tuple[str, dict[str, Any]]:
        """The transcript entry type and data of the text so far: the answer's `stream-start`
        / `stream`, or a reasoning's `record`."""
        if self.step is not None:
            return "record", {"messageId": message_id, "step": self.step, "delta": delta,
                              "reasoning": self.content, "done": False}
        return ("stream-start" if first else "stream"), {
            "messageId": message_id, "delta": delta, "content": self.content, "done": False}


class StreamRelay:
    """Streams by (run, messageId): an answer's text or a model call's reasoning. The first
    delta and the checkpoints are stored events; the deltas between are only relayed, merged
    so a room sees ~25 events a second at most."""

    def __init__(self, runs: RunService, db: Database, gateway: Gateway, chat: Chat) -> None:
        self.runs = runs
        self.db = db
        self.gateway = gateway
        self.chat = chat
        self._streams: dict[tuple[str, str], Stream] = {}

    async def push(self, run_id: str, agent: User, message_id: str, delta: str,
                   content: str | None) -> None:
        """Take a delta (and the agent's content so far, which wins when given)."""
        await self._take(run_id, agent, message_id, delta, content, None)

    async def push_reasoning(self, run_id: str, agent: User, message_id: str, step: int,
                             delta: str, content: str) -> None:
        """Take a delta of a model call's reasoning (`step`: which call), with the reasoning
        so far. It goes out as `record` events (`{messageId, step, delta, reasoning, done:
        false}`), never as the answer's stream; `drop` it once its whole text is recorded."""
        await self._take(run_id, agent, message_id, delta, content, step)

    async def _take(self, run_id: str, agent: User, message_id: str, delta: str,
                    content: str | None, step: int | None) -> None:
        key = (run_id, message_id)
        stream = self._streams.get(key)
        now = time.monotonic()
        if stream is None:
            text = content if content is not None else delta
            stream = Stream("", 0, now, text, relayed_at=now, checkpoint_at=now, step=step)
            type, data = stream.event(message_id, delta, first=True)
            recorded = await self.runs.add(run_id, agent.id, type, data)
            stream.room_id, stream.seq = recorded.run.room_id, recorded.seq
            self._streams[key] = stream
            return
        stream.content = content if content is not None else stream.content + delta
        stream.pending += delta
        if now - stream.checkpoint_at >= CHECKPOINT_SECONDS:
            stream.checkpoint_at = now
            await self._checkpoint(run_id, agent, message_id, stream)
        elif now - stream.relayed_at >= RELAY_SECONDS:
            await self._relay(run_id, message_id, stream)
        elif stream.flush is None:
            stream.flush = asyncio.create_task(
                self._relay_later(run_id, message_id, stream,
                                  RELAY_SECONDS - (now - stream.relayed_at)))

    async def _checkpoint(self, run_id: str, agent: User, message_id: str, stream: Stream
                          ) -> None:
        self._cancel(stream)
        type, data = stream.event(message_id, stream.pending)
        recorded = await self.runs.add(run_id, agent.id, type, data)
        stream.seq = recorded.seq
        stream.pending = ""
        stream.relayed_at = time.monotonic()

    async def _relay_later(self, run_id: str, message_id: str, stream: Stream,
                           delay: float) -> None:
        await asyncio.sleep(delay)
        stream.flush = None
        await self._relay(run_id, message_id, stream)

    async def _relay(self, run_id: str, message_id: str, stream: Stream) -> None:
        if not stream.pending:
            return
        self._cancel(stream)
        type, data = stream.event(message_id, stream.pending)
        payload = {"runId": run_id, "agencyId": stream.room_id, **data,
                   "seq": stream.seq, "t": int((time.monotonic() - stream.started) * 1000)}
        stream.pending = ""
        stream.relayed_at = time.monotonic()
        await self.gateway.emit_room(stream.room_id, WIRE_EVENTS[type], payload)

    async def finish(self, run_id: str, agent: User, message_id: str, content: str | None,
                     metadata: dict[str, Any], *, lease_owner: str | None = None
                     ) -> dict[str, Any]:
        """Post the stream's final content once as the agent's message with `run_id` in its
        metadata, record it, and return the stored message. A worker's run passes its
        `lease_owner`: the reply is posted only while that worker holds the lease."""
        stream = self._streams.pop((run_id, message_id), None)
        if stream is not None:
            self._cancel(stream)
        final = content if content is not None else (stream.content if stream else "")
        async with self.db.read() as session:
            run = await self.runs.own_live_run(session, run_id, agent.id)
        meta = {**metadata, "run_id": run_id}
        chat = self.chat
        if run.activation_id is not None:
            message = await chat.post_reply(agent, run.room_id, final, metadata=meta,
                                            activation_id=run.activation_id,
                                            lease_owner=lease_owner)
        else:
            message = await chat.post(agent, run.room_id, final, metadata=meta)
        async with self.runs.ordered(run_id), self.db.write() as session:
            run = await self.runs.own_live_run(session, run_id, agent.id)
            recorded = await self.runs.record(session, run, "stream-end", {
                "messageId": message_id, "content": final, "done": True, "metadata": meta,
                "storedMessageId": message["id"]}, {"final_message_id": message["id"]})
            await self.runs.broadcast(recorded)
        return message

    async def end(self, run_id: str, agent: User, message_id: str, content: str) -> None:
        """Record a stream's final content without posting it (a sub-agent's answer goes to
        its parent, not to the room)."""
        stream = self._streams.pop((run_id, message_id), None)
        if stream is not None:
            self._cancel(stream)
        async with self.runs.ordered(run_id), self.db.write() as session:
            run = await self.runs.own_live_run(session, run_id, agent.id)
            recorded = await self.runs.record(session, run, "stream-end", {
                "messageId": message_id, "content": content, "done": True})
            await self.runs.broadcast(recorded)

    def drop(self, run_id: str, message_id: str) -> None:
        """Stop relaying a stream whose whole text is recorded otherwise (a reasoning's)."""
        stream = self._streams.pop((run_id, message_id), None)
        if stream is not None:
            self._cancel(stream)

    def forget(self, run_id: str) -> None:
        """Drop the streams of a run that ended."""
        for key in [k for k in self._streams if k[0] == run_id]:
            self._cancel(self._streams.pop(key))

    @staticmethod
    def _cancel(stream: Stream) -> None:
        if stream.flush is not None and stream.flush is not asyncio.current_task():
            stream.flush.cancel()
        stream.flush = None
