"""The runs schema: one row per run, its transcript of events, and its permission requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shoal.store.tables import Base, JSONValue, UTCDateTime, utcnow

RUN_STATUSES = ("running", "waiting_permission", "completed", "error", "interrupted",
                "timed_out")
LIVE_STATUSES = ("running", "waiting_permission")


class Run(Base):
    """One piece of work an agent does in a room, watched by the people there."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_room_started", "room_id", "started_at"),
        Index("ix_runs_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the agent's runId
    agent_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    house_id: Mapped[str] = mapped_column(ForeignKey("houses.id", ondelete="CASCADE"))
    trigger_message_id: Mapped[str | None] = mapped_column(String(36))
    activation_id: Mapped[str | None] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(24), default="running")
    stop_requested: Mapped[bool] = mapped_column(default=False)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    summary: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    final_message_id: Mapped[str | None] = mapped_column(String(36))


class RunEvent(Base):
    """One entry of a run's transcript; `seq` is what a reconnecting watcher resumes from."""

    __tablename__ = "run_events"

    run_id: Mapped[str] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(24))
    t_ms: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)


class RunPermission(Base):
    """An approve/deny request of a run; undecided while `decision` is null."""

    __tablename__ = "run_permissions"

    run_id: Mapped[str] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    permission_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    action: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    timeout_seconds: Mapped[float] = mapped_column(Float)
    decision: Mapped[str | None] = mapped_column(String(8))  # approve / deny
    decided_by: Mapped[str | None] = mapped_column(String(36))  # a user id, or null: timeout
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message: Mapped[str | None] = mapped_column(Text)
