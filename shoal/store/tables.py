"""The schema: one set of tables for SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, instrumentation, mapped_column

from shoal.ids import new_id

MAX_INTEGER = 2**31 - 1  # the largest value an Integer column holds on PostgreSQL
_Mapped = TypeVar("_Mapped")


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def detached(cls: type[_Mapped], values: dict[str, Any]) -> _Mapped:
    """An instance of a mapped class holding these attribute values, built as the ORM builds
    the rows it loads: no attribute events, a tenth of the cost of calling the class. For rows
    that core statements read or wrote on the hottest paths, and that never join a session."""
    instance: _Mapped = instrumentation.manager_of_class(cls).new_instance()
    instance.__dict__.update(values)
    return instance


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, as the wire contract writes times."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC times and always gives back timezone-aware values, SQLite included."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


JSONValue = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    """Declarative base holding the metadata Alembic migrates."""


def _id_column() -> Mapped[str]:
    return mapped_column(String(36), primary_key=True, default=new_id)


class User(Base):
    """A principal: a person or a bot. Permissions never ask which."""

    __tablename__ = "users"

    id: Mapped[str] = _id_column()
    username: Mapped[str] = mapped_column(String(64))
    username_key: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(8), default="human")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    verified: Mapped[bool] = mapped_column(Boolean, default=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Token(Base):
    """An issued credential, kept only as its SHA-256 hash."""

    __tablename__ = "tokens"

    id: Mapped[str] = _id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class House(Base):
    """A workspace: members with roles, rooms, bots and their settings."""

    __tablename__ = "houses"

    id: Mapped[str] = _id_column()
    name: Mapped[str] = mapped_column(String(128))
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HouseMember(Base):
    """A principal's role and @handle in one house."""

    __tablename__ = "house_members"
    __table_args__ = (UniqueConstraint("house_id", "handle"),)

    house_id: Mapped[str] = mapped_column(
        ForeignKey("houses.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(8))
    handle: Mapped[str] = mapped_column(String(64))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Invite(Base):
    """A code that lets someone register into (or join) a house."""

    __tablename__ = "invites"

    id: Mapped[str] = _id_column()
    house_id: Mapped[str] = mapped_column(ForeignKey("houses.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(8), default="member")
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    max_uses: Mapped[int | None] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Room(Base):
    """A conversation in a house (an "agency" on the wire), with its append-only log."""

    __tablename__ = "rooms"
    __table_args__ = (UniqueConstraint("house_id", "slug"),)

    id: Mapped[str] = _id_column()
    house_id: Mapped[str] = mapped_column(ForeignKey("houses.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    charter: Mapped[str] = mapped_column(Text, default="")
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    is_dm: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The house agent that answers every person's message here unmentioned (shoal.rooms.
    # bindings). No foreign key: users are never deleted as rows, and adding one would make
    # SQLite copy the rooms table; reads ignore an agent that was deleted or left the house.
    bound_agent_id: Mapped[str | None] = mapped_column(String(36))


class RoomMember(Base):
    """Membership of a room: required for private rooms, a joined marker for public ones."""

    __tablename__ = "room_members"

    room_id: Mapped[str] = mapped_column(
        ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Message(Base):
    """One entry of a room's log; `seq` is the per-room offset readers resume from."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("room_id", "seq"),
        Index("ux_messages_activation", "activation_id", unique=True),
    )

    id: Mapped[str] = _id_column()
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    sender_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    sender_name: Mapped[str | None] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(16), default="chat")
    content: Mapped[str] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONValue, default=dict)
    mentions: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The activation this message answers: unique, so a retried activation never posts twice.
    activation_id: Mapped[str | None] = mapped_column(String(36))
    # The files it carries, as [{id, name, size, content_type}] (shoal.rooms.attachments).
    attachments: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONValue)


class MessageMention(Base):
    """Who a message mentions, resolved once at write time, for `?mentions=` and dispatch."""

    __tablename__ = "message_mentions"
    __table_args__ = (Index("ix_mentions_room_user_seq", "room_id", "user_id", "seq"),)

    message_id: Mapped[str] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    room_id: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int] = mapped_column(Integer)


class Activation(Base):
    """One decision to wake one bot for one trigger: the durable work item while pending or
    running, and afterwards the log of what happened."""

    __tablename__ = "activations"
    __table_args__ = (
        UniqueConstraint("bot_id", "trigger_message_id"),
        Index("ix_activations_claim", "status", "available_at"),
        Index("ix_activations_bot_created", "bot_id", "created_at"),
        # An agent thinks one thing at a time, whichever process runs it; its sub-agents
        # (kind `subagent`) run beside it, limited by their own lane.
        Index("ux_activations_one_running", "bot_id", unique=True,
              sqlite_where=text("status = 'running' AND trigger_kind <> 'subagent'"),
              postgresql_where=text("status = 'running' AND trigger_kind <> 'subagent'")),
    )

    id: Mapped[str] = _id_column()
    bot_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    house_id: Mapped[str] = mapped_column(ForeignKey("houses.id", ondelete="CASCADE"))
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), index=True)
    trigger_message_id: Mapped[str | None] = mapped_column(String(36))
    trigger_kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending/running/done
    outcome: Mapped[str | None] = mapped_column(String(16))  # replied/skipped/error/delivered
    skip_reason: Mapped[str | None] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    model: Mapped[str | None] = mapped_column(String(200))
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    reply_message_id: Mapped[str | None] = mapped_column(String(36))
    # The interaction whose budget this wake was counted against (see Interaction).
    interaction_id: Mapped[str | None] = mapped_column(String(36))
    # The crew the bot woke as a member of, and its role there (crews).
    crew_id: Mapped[str | None] = mapped_column(String(36), index=True)
    crew_role: Mapped[str | None] = mapped_column(String(40))
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Interaction(Base):
    """Everything that follows from one message by a person, a hook or a schedule: the agent
    wakes it may still cause (`budget`), those it caused (`used`), and whether the room was
    told that its agents stopped."""

    __tablename__ = "interactions"

    id: Mapped[str] = _id_column()
    house_id: Mapped[str] = mapped_column(ForeignKey("houses.id", ondelete="CASCADE"))
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    origin_message_id: Mapped[str] = mapped_column(String(36), unique=True)
    budget: Mapped[int] = mapped_column(Integer)
    used: Mapped[int] = mapped_column(Integer, default=0)
    notice_posted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Note(Base):
    """A room's shared key/value notes (`/save`, `/get`, `/notes`)."""

    __tablename__ = "notes"

    room_id: Mapped[str] = mapped_column(
        ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
