"""How runs and their events look on the wire and in the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shoal.rooms.faces import emoji_of
from shoal.runs.tables import Run, RunEvent
from shoal.store.tables import User, iso, utcnow

# The socket event each transcript entry type is broadcast as.
WIRE_EVENTS = {
    "start": "agent-run-start",
    "status": "agent-run-status",
    "tool-call": "agent-run-tool-call",
    "tool-result": "agent-run-tool-result",
    "stream-start": "agent-run-stream",
    "stream": "agent-run-stream",
    "stream-end": "agent-run-stream",
    "permission-request": "agent-run-permission",
    "permission-response": "agent-run-permission-response",
    "interrupt": "agent-run-interrupt",
    "complete": "agent-run-complete",
    "error": "agent-run-error",
    "record": "agent-run-record",
}


def elapsed_ms(start: datetime, end: datetime | None = None) -> int:
    """Milliseconds from start to end (or now)."""
    return max(0, int(((end or utcnow()) - start).total_seconds() * 1000))


def wire_payload(run: Run, seq: int, t_ms: int, data: dict[str, Any]) -> dict[str, Any]:
    """The broadcast payload: the contract's fields plus `seq` and `t` (ms since start)."""
    return {"runId": run.id, "agencyId": run.room_id, **data, "seq": seq, "t": t_ms}


def event_view(event: RunEvent) -> dict[str, Any]:
    """One transcript entry."""
    return {"seq": event.seq, "type": event.type, "t": event.t_ms, **event.data}


def run_summary(run: Run, agent: User | None) -> dict[str, Any]:
    """A run as `GET /api/agencies/{id}/runs` lists it."""
    return {
        "id": run.id,
        "agent_id": run.agent_id,
        "agent_username": agent.username if agent else None,
        "agent_emoji": emoji_of(agent) if agent else None,
        "status": run.status,
        "name": run.name,
        "started_at": iso(run.started_at),
        "ended_at": iso(run.ended_at),
        "duration": elapsed_ms(run.started_at, run.ended_at),
    }


def run_view(run: Run, agent: User | None, transcript: list[dict[str, Any]]) -> dict[str, Any]:
    """A run with its transcript, as `GET /api/runs/{id}` answers."""
    return {
        **run_summary(run, agent),
        "agencyId": run.room_id,
        "description": run.description,
        "summary": run.summary,
        "error": run.error,
        "trigger_message_id": run.trigger_message_id,
        "final_message_id": run.final_message_id,
        "transcript": transcript,
    }
