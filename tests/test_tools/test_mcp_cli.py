"""`shoal mcp add|list|check|remove` from the operator's command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shoal.cli import app
from shoal.cli.common import console
from tests.test_tools.mcp_servers import API_KEY, serve_in_thread


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOAL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SHOAL_OUTBOUND_ALLOW_PRIVATE", "true")
    for var in ("SHOAL_DATABASE_URL", "SHOAL_REDIS_URL", "SHOAL_CONFIG", "SHOAL_SECRET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(console, "width", 200)  # wide enough that no cell wraps
    return tmp_path


def shoal(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_shoal_mcp_add_list_check_remove(data_dir: Path) -> None:
    with serve_in_thread() as url:
        added = shoal("mcp", "add", "demo", url, "--header", f"X-Api-Key={API_KEY}")
        assert added.exit_code == 0, added.output
        assert "Added the MCP server demo to Home: ready, 5 tools: add, fail" in added.output

        listed = shoal("mcp", "list")
        assert listed.exit_code == 0, listed.output
        assert "demo" in listed.output and "streamable_http" in listed.output
        assert "X-Api-Key" in listed.output and API_KEY not in listed.output

        checked = shoal("mcp", "check", "demo")
        assert checked.exit_code == 0, checked.output
        assert checked.output.startswith("demo: reachable, 5 tools, ")

    down = shoal("mcp", "check", "demo")
    assert down.exit_code == 1 and "demo: unreachable" in down.output
    removed = shoal("mcp", "remove", "demo")
    assert removed.exit_code == 0 and "Removed the MCP server demo from Home." in removed.output
    assert "Home has no MCP servers." in shoal("mcp", "list").output
    bad = shoal("mcp", "add", "x", "https://mcp.example.com", "--header", "oops")
    assert bad.exit_code == 1 and "Name=value" in bad.output
