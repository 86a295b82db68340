"""Tables of the model layer: stored provider keys, auth profile state, failures."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shoal.ids import new_id
from shoal.store.tables import Base, UTCDateTime, utcnow


class ProviderKey(Base):
    """A provider API key given to Shoal, server-wide or for one house, encrypted at rest."""

    __tablename__ = "provider_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    provider: Mapped[str] = mapped_column(String(64), index=True)
    house_id: Mapped[str | None] = mapped_column(
        ForeignKey("houses.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(128), default="")
    secret: Mapped[str] = mapped_column(Text)  # SecretBox ciphertext, never the key itself
    hint: Mapped[str] = mapped_column(String(16))  # the masked form shown in listings
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuthProfileState(Base):
    """Cooldown and failure counts of one auth profile, shared by every Shoal process."""

    __tablename__ = "auth_profile_states"

    profile_id: Mapped[str] = mapped_column(String(96), primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    billing_count: Mapped[int] = mapped_column(Integer, default=0)
    cooldown_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ModelFailure(Base):
    """One failed model call: which profile, why, and when."""

    __tablename__ = "model_failures"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    profile_id: Mapped[str] = mapped_column(String(96), index=True)
    provider: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
