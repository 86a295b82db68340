"""The `[mcp]` table: call and connect timeouts, and the servers the operator declares.

    [mcp]
    call_timeout_seconds = 30
    [mcp.servers.files]             # a process the server runs (stdio)
    command = ["python", "files_server.py"]
    env = { ROOT = "/srv/files" }
    houses = ["<house id>"]         # optional: every house when absent
    [mcp.servers.search]            # a server on the network
    url = "https://mcp.example.com/mcp"
    headers = { Authorization = "Bearer ..." }
    transport = "sse"               # optional: streamable_http when absent

Operator servers are trusted as the configuration is: their addresses skip the outbound guard.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shoal.errors import InvalidInput
from shoal.validation import describe_errors

SERVER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
NAME_RULE = "1-32 lower-case letters, digits, _ or -, starting with a letter or digit"
Transport = Literal["streamable_http", "sse"]


class OperatorServer(BaseModel):
    """One `[mcp.servers.<name>]`: a `command` (stdio) or a `url`."""

    model_config = ConfigDict(extra="forbid")

    command: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    transport: Transport | None = None
    houses: list[str] | None = None  # house ids; every house when None
    enabled: bool = True

    @model_validator(mode="after")
    def _command_or_url(self) -> OperatorServer:
        if bool(self.command) == bool(self.url):
            raise ValueError("give either command (a list: the program and its arguments) "
                             "or url")
        return self

    def serves(self, house_id: str) -> bool:
        """Whether the house's agents get this server's tools."""
        return self.houses is None or house_id in self.houses


class MCPConfig(BaseModel):
    """The whole `[mcp]` table."""

    model_config = ConfigDict(extra="forbid")

    call_timeout_seconds: float = Field(30, gt=0)
    connect_timeout_seconds: float = Field(10, gt=0)
    # A listing older than this is read again when an agent's tools are gathered; the server
    # saying its list changed refreshes it at once.
    tools_ttl_seconds: float = Field(300, gt=0)
    # A server that could not be reached is tried again after this long, not at every turn.
    retry_seconds: float = Field(30, gt=0)
    servers: dict[str, OperatorServer] = Field(default_factory=dict)

    @field_validator("servers")
    @classmethod
    def _names(cls, servers: dict[str, OperatorServer]) -> dict[str, OperatorServer]:
        for name in servers:
            if not SERVER_NAME.match(name):
                raise ValueError(f"server name {name!r}: use {NAME_RULE}")
        return servers

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> MCPConfig:
        """Validate the `[mcp]` table, or explain what is wrong with it."""
        try:
            return cls.model_validate(dict(raw or {}))
        except ValidationError as exc:
            problems = describe_errors(exc.errors(), subject="the [mcp] table", prefix="mcp",
                                       limit=20)
            raise InvalidInput(f"invalid configuration: {problems}") from None
