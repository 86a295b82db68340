"""The contract's `agent-run-*` socket events, and the ones people use to answer runs."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from shoal.errors import Forbidden, InvalidInput, TooLarge
from shoal.realtime.events import room_id_of
from shoal.realtime.gateway import EventHandler, Gateway, SocketState
from shoal.rooms.messages import check_metadata
from shoal.runs.gates import DEFAULT_TIMEOUT
from shoal.runs.service import RUN_ID, RunService
from shoal.store.tables import MAX_INTEGER

if TYPE_CHECKING:
    from shoal.rooms.messages import Limits
    from shoal.store.db import Database

MAX_TEXT = 2_000


def run_id_of(data: dict[str, Any], key: str = "runId") -> str:
    """A run or permission id from a payload, or InvalidInput."""
    value = data.get(key)
    if not isinstance(value, str) or not RUN_ID.fullmatch(value):
        raise InvalidInput(f"{key} must be 1-64 letters, digits or _.:-")
    return value


def text_of(data: dict[str, Any], key: str, *, required: bool = False,
            limit: int = MAX_TEXT) -> str | None:
    """An optional (or required) string field of at most `limit` characters."""
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(f"{key} must be a{' non-empty' if required else ''} string")
    if len(value) > limit or "\x00" in value:
        raise InvalidInput(f"{key} must be at most {limit} characters, without NUL")
    return value


def json_of(value: Any, limit: int, key: str) -> Any:
    """Any JSON value within the metadata size cap (tool input and output, records)."""
    size = len(json.dumps(value, separators=(",", ":"), default=str).encode())
    if size > limit:
        raise TooLarge(f"{key} is {size} bytes; the limit is {limit}")
    if "\\u0000" in json.dumps(value, default=str):
        raise InvalidInput(f"{key} must not contain NUL characters")
    return value


def register_run_events(gateway: Gateway, runs: RunService, db: Database, limits: Limits
                        ) -> None:
    """Attach the run events to the gateway; fields are checked against `limits`."""
    limit = limits.max_metadata_bytes
    # python-socketio handles each event in its own task; taking this lock before the
    # first await keeps one socket's run events in the order the agent sent them.
    order: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
    in_flight: defaultdict[str, int] = defaultdict(int)

    def agent_event(handler: EventHandler) -> EventHandler:
        async def ordered(state: SocketState, data: dict[str, Any]) -> Any:
            in_flight[state.sid] += 1
            try:
                async with order[state.sid]:
                    return await handler(state, data)
            finally:
                in_flight[state.sid] -= 1
                if not in_flight[state.sid]:
                    del in_flight[state.sid], order[state.sid]
        return ordered

    async def start(state: SocketState, data: dict[str, Any]) -> dict[str, Any]:
        agent = state.principal.user
        if data.get("agentId") not in (None, agent.id):
            raise Forbidden("agentId must be your own id")
        return await runs.start(
            agent, room_id_of(data), run_id=run_id_of(data) if "runId" in data else None,
            trigger_message_id=text_of(data, "triggerMessageId", limit=64),
            name=text_of(data, "name", limit=200) or "",
            description=text_of(data, "description") or "")

    def adder(type: str, fields: Callable[[dict[str, Any]], dict[str, Any]]) -> EventHandler:
        async def add(state: SocketState, data: dict[str, Any]) -> dict[str, Any]:
            recorded = await runs.add(run_id_of(data), state.principal.id, type, fields(data))
            return {"ok": True, "runId": recorded.run.id, "seq": recorded.seq}
        return add

    def status_of(data: dict[str, Any], allowed: tuple[str, ...]) -> str:
        status = data.get("status", allowed[0])
        if status not in allowed:
            raise InvalidInput(f"status must be one of {', '.join(allowed)}")
        return str(status)

    def tool_call(data: dict[str, Any]) -> dict[str, Any]:
        return {"toolCallId": run_id_of(data, "toolCallId"),
                "tool": text_of(data, "tool", required=True, limit=200),
                "input": json_of(data.get("input"), limit, "input"),
                "status": status_of(data, ("running",))}

    def tool_result(data: dict[str, Any]) -> dict[str, Any]:
        duration = data.get("duration")
        if duration is not None and not isinstance(duration, (int, float, str)):
            raise InvalidInput("duration must be a number of ms or a string like 34ms")
        return {"toolCallId": run_id_of(data, "toolCallId"),
                "tool": text_of(data, "tool", required=True, limit=200),
                "output": json_of(data.get("output"), limit, "output"), "duration": duration,
                "status": status_of(data, ("done", "error"))}

    async def stream(state: SocketState, data: dict[str, Any]) -> dict[str, Any]:
        run_id, message_id = run_id_of(data), run_id_of(data, "messageId")
        content = text_of(data, "content", limit=limits.max_content_chars)
        if data.get("done") is True:
            message = await runs.streams.finish(run_id, state.principal.user, message_id,
                                                content,
                                                check_metadata(data.get("metadata"), limits))
            return {"ok": True, "runId": run_id, "messageId": message["id"],
                    "message": message}
        delta = text_of(data, "delta", limit=limits.max_content_chars) or ""
        await runs.streams.push(run_id, state.principal.user, message_id, delta, content)
        return {"ok": True, "runId": run_id}

    async def permission(state: SocketState, data: dict[str, Any]) -> dict[str, Any]:
        timeout = data.get("timeout", DEFAULT_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise InvalidInput("timeout must be a number of seconds")
        recorded = await runs.gates.request(
            run_id_of(data), state.principal.user, run_id_of(data, "permissionId"),
            text_of(data, "action", required=True) or "", text_of(data, "description") or "",
            float(timeout))
        return {"ok": True, "runId": recorded.run.id, "seq": recorded.seq}

    def finisher(type: str, key: str, status: str) -> EventHandler:
        async def finish(state: SocketState, data: dict[str, Any]) -> dict[str, Any]:
            # The agent's own `transcript` is not kept: the server's is the record.
            recorded = await runs.finish(run_id_of(data), state.principal.id, type,
                                         {key: text_of(data, key, limit=20_000)}, status)
            return {"ok": True, "runId": recorded.run.id, "seq": recorded.seq,
                    "status": recorded.run.status}
        return finish

    def record(data: dict[str, Any]) -> dict[str, Any]:
        fields = {k: v for k, v in data.items() if k not in ("runId", "agencyId")}
        return dict(json_of(fields, limit, "record"))

    async def decide(state: SocketState, data: dict[str, Any]) -> dict[str, Any]:
        return await runs.gates.decide(
            run_id_of(data), run_id_of(data, "permissionId"), state.principal.user,
            str(data.get("decision")), text_of(data, "message"))

    async def interrupt(state: SocketState, data: dict[str, Any]) -> dict[str, Any]:
        return await runs.interrupt(run_id_of(data), state.principal.user,
                                    str(data.get("action")), text_of(data, "message"))

    async def events(state: SocketState, data: dict[str, Any]) -> dict[str, Any]:
        after = data.get("afterSeq", 0)
        if isinstance(after, bool) or not isinstance(after, int) \
                or not 0 <= after <= MAX_INTEGER:
            raise InvalidInput(f"afterSeq must be an integer from 0 to {MAX_INTEGER}")
        async with db.read() as session:
            run = await runs.get(session, run_id_of(data), state.principal.id)
            found = await runs.events_after(session, run.id, after)
        return {"ok": True, "runId": run.id, "status": run.status, "events": found}

    handlers: dict[str, Callable[[SocketState, dict[str, Any]], Awaitable[Any]]] = {
        "agent-run-start": start,
        "agent-run-status": adder("status", lambda d: {
            "status": text_of(d, "status", required=True, limit=500)}),
        "agent-run-tool-call": adder("tool-call", tool_call),
        "agent-run-tool-result": adder("tool-result", tool_result),
        "agent-run-stream": stream,
        "agent-run-permission": permission,
        "agent-run-complete": finisher("complete", "summary", "completed"),
        "agent-run-error": finisher("error", "error", "error"),
        "agent-run-record": adder("record", record),
    }
    for event, handler in handlers.items():
        gateway.on(event, agent_event(handler))
    gateway.on("agent-run-permission-decision", decide)
    gateway.on("agent-run-interrupt", interrupt)
    gateway.on("agent-run-events", events)
