"""Shared MCP servers: one demo server per test module, on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support import ShoalServer
from tests.test_tools.mcp_servers import Served, demo_server, serve_mcp


@pytest.fixture(scope="module")
async def demo() -> AsyncIterator[Served]:
    """The demo MCP server over streamable HTTP, shared by a module's tests."""
    async with serve_mcp(demo_server()) as served:
        yield served


@pytest.fixture
def allow_loopback(shoal_server: ShoalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator allows outbound calls to private addresses, as a test on loopback needs."""
    monkeypatch.setattr(shoal_server.shoal.settings, "outbound_allow_private", True)
