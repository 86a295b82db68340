"""`shoal command add|list|update|remove`: a house's own commands from the operator's command
line, under the same rules as the API."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from shoal.cli import app
from shoal.cli.common import console
from shoal.commands.tables import CustomCommand
from shoal.config import load_settings
from shoal.crypto import SecretBox
from shoal.store import Database

SECRET = "never-show-me-0123"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOAL_DATA_DIR", str(tmp_path))
    for var in ("SHOAL_DATABASE_URL", "SHOAL_REDIS_URL", "SHOAL_CONFIG", "SHOAL_SECRET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(console, "width", 200)  # wide enough that no cell wraps
    return tmp_path


def shoal(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


async def stored_commands() -> list[CustomCommand]:
    db = Database(load_settings().resolved_database_url)
    try:
        async with db.read() as session:
            return list((await session.scalars(
                select(CustomCommand).order_by(CustomCommand.name))).all())
    finally:
        await db.dispose()


def test_shoal_command_add_list_update_remove(data_dir: Path) -> None:
    added = shoal("command", "add", "standup", "https://example.com/standup",
                  "--description", "Post the standup", "--permission", "whitelist",
                  "--whitelist", "ada, @Bob", "--secret", SECRET)
    assert added.exit_code == 0, added.output
    assert "Added /standup to Home (whitelist)." in added.output
    [row] = asyncio.run(stored_commands())
    assert (row.name, row.webhook_url, row.invoke_whitelist) == (
        "standup", "https://example.com/standup", ["ada", "bob"])
    assert SecretBox(load_settings().ensure_secret()).decrypt(row.secret or "") == SECRET

    listed = shoal("command", "list")
    assert listed.exit_code == 0, listed.output
    assert "/standup" in listed.output and "https://example.com/standup" in listed.output
    assert "ada, bob" in listed.output and SECRET not in listed.output

    updated = shoal("command", "update", "/standup", "--permission", "closed", "--rename",
                    "daily", "--secret", "")
    assert updated.exit_code == 0, updated.output
    [row] = asyncio.run(stored_commands())
    assert (row.name, row.invoke_permission, row.secret) == ("daily", "closed", None)

    assert shoal("command", "remove", "daily").exit_code == 0
    assert asyncio.run(stored_commands()) == []
    assert "Home has no commands of its own." in shoal("command", "list").output


@pytest.mark.parametrize(("args", "error"), [
    (("add", "roll", "https://example.com/x"), "/roll is a built-in command"),
    (("add", "ok", "file:///etc/passwd"), "webhook_url: only http:// and https://"),
    (("add", "ok", "https://example.com/x", "--permission", "some"), "invoke_permission"),
    (("add", "ok", "https://example.com/x", "--house", "nowhere"), "no house 'nowhere'"),
    (("update", "missing", "--description", "x"), "this house has no command /missing"),
    (("remove", "missing"), "this house has no command /missing"),
])
def test_shoal_command_refusals(data_dir: Path, args: tuple[str, ...], error: str) -> None:
    result = CliRunner().invoke(app, ["command", *args])
    assert result.exit_code == 1 and error in result.output, result.output
