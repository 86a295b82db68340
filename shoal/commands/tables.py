"""A house's own slash commands, answered by a webhook."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shoal.ids import new_id
from shoal.store.tables import Base, JSONValue, UTCDateTime, utcnow


class CustomCommand(Base):
    """`/name` in every room of the house, POSTed to `webhook_url`; who may run it is
    `invoke_permission` (open, closed: the owner only, whitelist: `invoke_whitelist`).
    With a `secret` (encrypted at rest) the calls are signed as agent webhook calls are."""

    __tablename__ = "custom_commands"
    __table_args__ = (UniqueConstraint("house_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    house_id: Mapped[str] = mapped_column(ForeignKey("houses.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(32))  # lower case
    description: Mapped[str] = mapped_column(Text, default="")
    webhook_url: Mapped[str] = mapped_column(Text)
    invoke_permission: Mapped[str] = mapped_column(String(16), default="open")
    invoke_whitelist: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    secret: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
