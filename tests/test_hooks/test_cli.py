"""`shoal hook` as an operator uses it: keys printed once, rotated and revoked for real."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from shoal.cli import app
from shoal.cli.common import console
from shoal.config import load_settings
from shoal.crypto import SecretBox, hash_token
from shoal.hooks.tables import Hook
from shoal.store import Database


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOAL_DATA_DIR", str(tmp_path))
    for var in ("SHOAL_DATABASE_URL", "SHOAL_REDIS_URL", "SHOAL_CONFIG", "SHOAL_SECRET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(console, "width", 160)  # wide enough that no cell wraps
    return tmp_path


def shoal(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(app, list(args), input=stdin)


def shown(output: str, what: str) -> str:
    match = re.search(rf"{what}:\s+(\S+)", output)
    assert match, output
    return match.group(1)


def stored(name: str) -> Hook:
    async def load() -> Hook | None:
        db = Database(load_settings().resolved_database_url)
        try:
            async with db.read() as session:
                return await session.scalar(select(Hook).where(Hook.name == name))
        finally:
            await db.dispose()
    hook = asyncio.run(load())
    assert hook is not None
    return hook


def test_create_list_rotate_and_revoke(data_dir: Path) -> None:
    made = shoal("hook", "create", "Sentry", "--room", "lobby",
                 "--template", "@fixer {{ shoal.summary }}")
    assert made.exit_code == 0, made.output
    key, secret = shown(made.output, "key"), shown(made.output, "secret")
    hook = stored("Sentry")
    assert key.startswith("shk_") and hook.key_hash == hash_token(key)
    box = SecretBox(load_settings().ensure_secret())
    assert box.decrypt(hook.secret) == secret and hook.template == "@fixer {{ shoal.summary }}"

    listed = shoal("hook", "list")
    assert listed.exit_code == 0
    row = next(line for line in listed.output.splitlines() if "Sentry" in line)
    assert "#lobby" in row and hook.id in row and key not in listed.output

    rotated = shoal("hook", "rotate", "Sentry")
    assert rotated.exit_code == 0, rotated.output
    new_key = shown(rotated.output, "key")
    assert new_key != key and stored("Sentry").key_hash == hash_token(new_key)

    assert shoal("hook", "revoke", hook.id).exit_code == 0
    assert stored("Sentry").revoked_at is not None
    gone = shoal("hook", "rotate", "Sentry")
    assert gone.exit_code == 1 and "has no live hook 'Sentry'" in gone.output


def test_a_given_secret_and_bad_input(data_dir: Path) -> None:
    made = shoal("hook", "create", "GitHub", "--room", "lobby", "--secret-stdin",
                 stdin="my-github-secret\n")
    assert made.exit_code == 0, made.output
    assert "secret:" not in made.output
    box = SecretBox(load_settings().ensure_secret())
    assert box.decrypt(stored("GitHub").secret) == "my-github-secret"
    for args, error in [
        (("hook", "create", "X", "--room", "nowhere"),
         "rooms: 'nowhere' is not a room of this house"),
        (("hook", "create", "GitHub", "--room", "lobby"),
         "this house already has a hook called 'GitHub'"),
        (("hook", "list", "--house", "nope"), "no house 'nope'"),
    ]:
        result = shoal(*args)
        assert result.exit_code == 1 and error in result.output, result.output
    short = shoal("hook", "create", "Y", "--room", "lobby", "--secret-stdin", stdin="abc\n")
    assert short.exit_code == 1 and "secret must be 8-256 characters" in short.output
