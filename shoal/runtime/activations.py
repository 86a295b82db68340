"""The activation log: what each activation did, as the API and CLI show it, and pruning."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, delete, exists, or_, select

from shoal.realtime.delivery import WAITING
from shoal.store.tables import (
    Activation,
    HouseMember,
    Interaction,
    Room,
    RoomMember,
    iso,
    utcnow,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from shoal.store.db import Database

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
OUTCOMES = ("replied", "skipped", "error", "delivered", "pending", WAITING)


def activation_view(row: Activation) -> dict[str, Any]:
    """One activation as the log shows it."""
    return {
        "id": row.id,
        "bot_id": row.bot_id,
        "room_id": row.room_id,
        "trigger_message_id": row.trigger_message_id,
        "trigger_kind": row.trigger_kind,
        "status": row.status,
        "outcome": row.outcome,
        "skip_reason": row.skip_reason,
        "model": row.model,
        "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens,
        "duration_ms": row.duration_ms,
        "error": row.error,
        "attempts": row.attempts,
        "created_at": iso(row.created_at),
        "started_at": iso(row.started_at),
        "finished_at": iso(row.finished_at),
        "reply_message_id": row.reply_message_id,
        "interaction_id": row.interaction_id,
        # The crew the bot woke as a member of, and its role there.
        "crew_id": row.crew_id,
        "crew_role": row.crew_role,
        # Each tool call: its name, duration_ms and status (done, error, refused, denied).
        "tools": (row.payload or {}).get("tools", []),
        # Each compaction of its session: why, the turns covered, the summary's turn, and the
        # memory flush before it (saved, nothing_saved, no_tools or failed, and why).
        "compactions": (row.payload or {}).get("compactions", []),
    }


async def list_activations(
    session: AsyncSession,
    bot_id: str,
    *,
    viewer_id: str | None = None,
    room_id: str | None = None,
    trigger_id: str | None = None,
    since: datetime | None = None,
    outcome: str | None = None,
    crew_id: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[Activation]:
    """A bot's activations, newest first. With a viewer, only those in the houses the viewer
    belongs to and the rooms they may see there (a private room's only to its members).
    `outcome` is one of OUTCOMES; `pending` means not finished yet, `waiting` not yet heard
    by an SDK bot with no socket in the room."""
    query = select(Activation).where(Activation.bot_id == bot_id)
    if viewer_id is not None:
        viewer_houses = select(HouseMember.house_id).where(HouseMember.user_id == viewer_id)
        in_room = exists().where(RoomMember.room_id == Room.id,
                                 RoomMember.user_id == viewer_id)
        query = query.join(Room, Room.id == Activation.room_id).where(
            Activation.house_id.in_(viewer_houses), or_(Room.is_private.is_(False), in_room))
    if room_id is not None:
        query = query.where(Activation.room_id == room_id)
    if trigger_id is not None:
        query = query.where(Activation.trigger_message_id == trigger_id)
    if since is not None:
        query = query.where(Activation.created_at >= since)
    if crew_id is not None:
        query = query.where(Activation.crew_id == crew_id)
    if outcome == "pending":
        query = query.where(Activation.outcome.is_(None))
    elif outcome == WAITING:
        query = query.where(Activation.status == WAITING)
    elif outcome is not None:
        query = query.where(Activation.outcome == outcome)
    query = query.order_by(Activation.created_at.desc(), Activation.id.desc())
    return list((await session.scalars(query.limit(max(1, min(limit, MAX_LIMIT))))).all())


async def prune_activations(db: Database, older_than: timedelta) -> int:
    """Delete finished activations created longer ago than `older_than`, and interactions
    none of whose activations is left; returns how many activations went. Pending and
    running ones are work still to do and stay whatever their age."""
    cutoff = utcnow() - older_than
    async with db.write() as session:
        # A DELETE's result is a CursorResult; the session types it as any Result.
        result = cast("CursorResult[Any]", await session.execute(
            delete(Activation).where(Activation.status == "done",
                                     Activation.created_at < cutoff)
        ))
        await session.execute(delete(Interaction).where(
            Interaction.created_at < cutoff,
            ~exists().where(Activation.interaction_id == Interaction.id)))
    return int(result.rowcount or 0)
