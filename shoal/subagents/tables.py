"""The sub-agents schema: one row per spawned child, from the spawn to its announcement."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shoal.ids import new_id
from shoal.store.tables import Base, UTCDateTime, utcnow

STATES = ("pending", "running", "completed", "failed", "timed_out", "killed")
LIVE_STATES = ("pending", "running")
ANNOUNCE = ("parent", "room", "none")
CLEANUP = ("delete", "keep")


class Subagent(Base):
    """A child agent run for one task on behalf of a parent agent's activation. Its own
    activation (kind `subagent`) is the work item; this row is its lane, its state and the
    record of its end, written in the transaction that ends the child together with the
    announcement it queues."""

    __tablename__ = "subagents"
    __table_args__ = (
        Index("ix_subagents_room_created", "room_id", "created_at"),
        Index("ix_subagents_parent_state", "parent_bot_id", "state"),
        Index("ix_subagents_house_state", "house_id", "state"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    house_id: Mapped[str] = mapped_column(ForeignKey("houses.id", ondelete="CASCADE"))
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    parent_bot_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    parent_activation_id: Mapped[str | None] = mapped_column(String(36), index=True)
    child_bot_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    activation_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    # The person whose message started the parent's work; they may kill the child.
    requested_by: Mapped[str | None] = mapped_column(String(36))
    interaction_id: Mapped[str | None] = mapped_column(String(36))
    task: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(String(200), default="")
    model: Mapped[str | None] = mapped_column(String(200))
    cleanup: Mapped[str] = mapped_column(String(8), default="keep")
    announce: Mapped[str] = mapped_column(String(8), default="parent")
    run_timeout_seconds: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    result: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    # What the end queued: the parent's follow-up activation, or the room message.
    announced_activation_id: Mapped[str | None] = mapped_column(String(36))
    announced_message_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def session_key(self) -> str:
        """The child's session, as its prompt and the API name it."""
        return f"subagent:{self.id}"

    @property
    def live(self) -> bool:
        """Whether the child is still to run or running."""
        return self.state in LIVE_STATES
