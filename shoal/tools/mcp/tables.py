"""MCP servers a house's owners registered; operators' servers live in the configuration."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shoal.ids import new_id
from shoal.store.tables import Base, JSONValue, UTCDateTime, utcnow


class McpServer(Base):
    """A server reached over HTTP (`transport`: streamable_http or sse). `headers` is a JSON
    object sealed with the secret box; `tools` is the last listing (name, description,
    input_schema), shared by every process; `state` is ready, error or unknown, with
    `last_error` saying why and `checked_at` when it was last reached or tried."""

    __tablename__ = "mcp_servers"
    __table_args__ = (UniqueConstraint("house_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    house_id: Mapped[str] = mapped_column(ForeignKey("houses.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(Text)
    headers: Mapped[str | None] = mapped_column(Text)
    header_names: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    transport: Mapped[str] = mapped_column(String(16), default="streamable_http")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[str] = mapped_column(String(16), default="unknown")
    last_error: Mapped[str | None] = mapped_column(Text)
    tools: Mapped[list[dict[str, Any]]] = mapped_column(JSONValue, default=list)
    tools_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
