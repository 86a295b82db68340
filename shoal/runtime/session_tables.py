"""Sessions: an agent's working memory for one room, one cron job or one sub-agent, kept as
the turns the model saw, with token counts and compaction summaries. Nothing here is deleted
by compaction: a summary turn only stands in for older turns in the model's context."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shoal.ids import new_id
from shoal.store.tables import Base, JSONValue, UTCDateTime, utcnow


class AgentSession(Base):
    """One session of one agent. `key` is `room:<room id>`, `cron:<job id>` or
    `subagent:<id>`; `synced_seq` is the room's last message already taken in as a turn."""

    __tablename__ = "agent_sessions"
    __table_args__ = (UniqueConstraint("bot_id", "key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    bot_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    house_id: Mapped[str] = mapped_column(ForeignKey("houses.id", ondelete="CASCADE"))
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))  # room, cron, subagent
    synced_seq: Mapped[int] = mapped_column(Integer, default=0)
    next_index: Mapped[int] = mapped_column(Integer, default=1)
    turn_count: Mapped[int] = mapped_column(Integer, default=0)
    total_tokens: Mapped[int] = mapped_column(Integer, default=0)
    compactions: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SessionTurn(Base):
    """One turn, numbered in the session (`index`). Roles: user, assistant, tool, and
    summary (a compaction's summary; `covers_from`..`covers_to` are the turn numbers it
    stands in for). `tokens` is the turn's estimated size."""

    __tablename__ = "session_turns"
    __table_args__ = (UniqueConstraint("session_id", "index"),
                      Index("ix_session_turns_message", "session_id", "message_id"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(ForeignKey("agent_sessions.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text, default="")
    tool_calls: Mapped[list[dict[str, Any]]] = mapped_column(JSONValue, default=list)
    tool_call_id: Mapped[str | None] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(200))
    message_id: Mapped[str | None] = mapped_column(String(36))  # the room message it came from
    activation_id: Mapped[str | None] = mapped_column(String(36))
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    covers_from: Mapped[int | None] = mapped_column(Integer)
    covers_to: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
