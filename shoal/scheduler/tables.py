"""The scheduler's schema: one table of due work, and the schedules people set up."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shoal.ids import new_id
from shoal.store.tables import Base, UTCDateTime, utcnow


class Schedule(Base):
    """One piece of due work: what (`kind` and `target_id`) and when (`due_at`, UTC; null while
    paused). Schedulers claim due rows and advance them in the same transaction."""

    __tablename__ = "schedules"
    __table_args__ = (
        UniqueConstraint("kind", "target_id"),
        Index("ix_schedules_due", "due_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16))  # heartbeat / cron / delivery
    target_id: Mapped[str] = mapped_column(String(36))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Heartbeat(Base):
    """Prompts an agent in a room every `interval_seconds` (60 s to 7 d)."""

    __tablename__ = "heartbeats"
    __table_args__ = (UniqueConstraint("room_id", "bot_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    house_id: Mapped[str] = mapped_column(ForeignKey("houses.id", ondelete="CASCADE"),
                                          index=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    bot_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    interval_seconds: Mapped[int] = mapped_column(Integer)
    prompt: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CronJob(Base):
    """Runs an agent turn on a cron expression, every N seconds, or once at a time; the turn
    is an isolated session whose answer goes to the room or nowhere."""

    __tablename__ = "cron_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    house_id: Mapped[str] = mapped_column(ForeignKey("houses.id", ondelete="CASCADE"),
                                          index=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    bot_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # cron / every / at
    expression: Mapped[str | None] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    every_seconds: Mapped[int | None] = mapped_column(Integer)
    run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    prompt: Mapped[str] = mapped_column(Text)
    deliver: Mapped[bool] = mapped_column(Boolean, default=True)
    with_history: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    consecutive_errors: Mapped[int] = mapped_column(Integer, default=0)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_outcome: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
