"""Inbound hooks: a named key that lets another system post into some rooms of a house."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shoal.ids import new_id
from shoal.store.tables import Base, JSONValue, UTCDateTime, utcnow


class Hook(Base):
    """A hook. The key is kept only as its SHA-256 hash; `secret` (encrypted) is what GitHub and
    Sentry sign their deliveries with; `template` renders the generic receiver's JSON."""

    __tablename__ = "hooks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    house_id: Mapped[str] = mapped_column(ForeignKey("houses.id", ondelete="CASCADE"),
                                          index=True)
    name: Mapped[str] = mapped_column(String(64))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    room_ids: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    secret: Mapped[str] = mapped_column(Text)
    template: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
