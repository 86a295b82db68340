"""The crews schema: a crew working one goal in a room, its members and their roles, its task
board, its resource locks and its activity feed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shoal.ids import new_id
from shoal.store.tables import Base, JSONValue, UTCDateTime, utcnow

CREW_STATES = ("active", "ended")
TASK_STATES = ("todo", "in_progress", "blocked", "done")
REPORT_KINDS = ("progress", "completion", "blocker", "error")


class Crew(Base):
    """Agents working one goal in one room: a lead, members with roles, a budget of running
    agents, and the state of the lead's heartbeat. Ending a crew keeps its record."""

    __tablename__ = "crews"
    __table_args__ = (Index("ix_crews_room_state", "room_id", "state"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    house_id: Mapped[str] = mapped_column(ForeignKey("houses.id", ondelete="CASCADE"),
                                          index=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120), default="")
    goal: Mapped[str] = mapped_column(Text)
    lead_bot_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default="active")
    agent_budget: Mapped[int] = mapped_column(Integer, default=50)
    # CREW_UPDATE: how often receivers that are not idle get one.
    refresh_seconds: Mapped[int] = mapped_column(Integer, default=180)
    # The lead's heartbeat: nudge after this long idle with tasks undone.
    lead_idle_seconds: Mapped[int] = mapped_column(Integer, default=300)
    heartbeat_halted: Mapped[bool] = mapped_column(Boolean, default=False)
    # Nudges sent since the lead last acted; at 3 the heartbeat backs off.
    unanswered_nudges: Mapped[int] = mapped_column(Integer, default=0)
    lead_active_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Allowed model references per role ({role: [ref, ...]}); a role not named is unrestricted.
    model_config: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_by: Mapped[str | None] = mapped_column(String(36))


class CrewMember(Base):
    """An agent in a crew with a role (the lead is a member with role `lead`). A member who
    left keeps its row (`left_at`) for the record; joining again clears it."""

    __tablename__ = "crew_members"
    __table_args__ = (UniqueConstraint("crew_id", "bot_id"),
                      Index("ix_crew_members_bot", "bot_id"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    crew_id: Mapped[str] = mapped_column(ForeignKey("crews.id", ondelete="CASCADE"))
    bot_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(40))
    # The sub-agent record when the member was spawned into the crew.
    subagent_id: Mapped[str | None] = mapped_column(String(36))
    added_by: Mapped[str | None] = mapped_column(String(36))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CrewTask(Base):
    """One card on a crew's board."""

    __tablename__ = "crew_tasks"
    __table_args__ = (Index("ix_crew_tasks_crew_status", "crew_id", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    crew_id: Mapped[str] = mapped_column(ForeignKey("crews.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    assignee_id: Mapped[str | None] = mapped_column(ForeignKey("users.id",
                                                               ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="todo")
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(36))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CrewLock(Base):
    """A named resource (a file, a service) held by one member; it goes when its holder
    leaves the crew or the crew ends."""

    __tablename__ = "crew_locks"
    __table_args__ = (UniqueConstraint("crew_id", "resource"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    crew_id: Mapped[str] = mapped_column(ForeignKey("crews.id", ondelete="CASCADE"))
    resource: Mapped[str] = mapped_column(String(300))
    holder_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CrewActivity(Base):
    """One event in a crew's feed: who (`actor_id`, a member or a person), what (`kind`), a
    one-line `summary` as CREW_UPDATE shows it, and details (`data`)."""

    __tablename__ = "crew_activity"
    __table_args__ = (Index("ix_crew_activity_crew_at", "crew_id", "at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    crew_id: Mapped[str] = mapped_column(ForeignKey("crews.id", ondelete="CASCADE"))
    actor_id: Mapped[str | None] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(24))
    summary: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
