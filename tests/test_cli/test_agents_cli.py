"""`shoal bot edit` and `shoal activations` as an operator uses them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from shoal.agents.config import load_config
from shoal.bootstrap import ensure_home
from shoal.cli import app
from shoal.cli.common import console
from shoal.config import load_settings
from shoal.rooms.rooms import create_room
from shoal.store import Database
from shoal.store.tables import Activation, User


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOAL_DATA_DIR", str(tmp_path))
    for var in ("SHOAL_DATABASE_URL", "SHOAL_REDIS_URL", "SHOAL_CONFIG", "SHOAL_SECRET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(console, "width", 160)  # wide enough that no cell wraps
    return tmp_path


def shoal(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


async def stored_bot(username: str) -> User:
    db = Database(load_settings().resolved_database_url)
    try:
        async with db.read() as session:
            bot = await session.scalar(select(User).where(User.username == username))
    finally:
        await db.dispose()
    assert bot is not None
    return bot


def test_bot_edit_sets_values_and_refuses_bad_ones(data_dir: Path) -> None:
    assert shoal("bot", "create", "Scout").exit_code == 0
    edited = shoal("bot", "edit", "@scout", "--set", "trigger_mode=ambient",
                   "--set", "max_hops=5", "--set", "fallbacks=ollama/llama3.2",
                   "--set", "system_prompt=Find things; answer briefly.",
                   "--set", "response_webhook_secret=whsec-s3cret")
    assert edited.exit_code == 0, edited.output
    assert "Updated fallbacks, max_hops, response_webhook_secret, system_prompt, " \
           "trigger_mode of @scout." in edited.output
    assert "whsec-s3cret" not in edited.output
    config = load_config(asyncio.run(stored_bot("scout")).config)
    assert config.trigger_mode == "ambient" and config.max_hops == 5
    assert config.model.fallbacks == ["ollama/llama3.2"]
    assert config.system_prompt == "Find things; answer briefly."
    assert config.response_webhook_secret and "s3cret" not in config.response_webhook_secret
    reset = shoal("bot", "edit", "scout", "--set", "max_hops=none")
    assert reset.exit_code == 0
    assert load_config(asyncio.run(stored_bot("scout")).config).max_hops == 20
    for args, error in [
        (["--set", "max_hops"], "each --set is key=value"),
        (["--set", "max_hops=0"], "max_hops"),
        (["--set", "colour=red"], "unknown config key 'colour'"),
        (["--set", "model=nowhere/x"], "unknown provider 'nowhere'"),
    ]:
        refused = shoal("bot", "edit", "scout", *args)
        assert refused.exit_code == 1 and error in refused.output, (args, refused.output)
    assert shoal("bot", "edit", "nobody", "--set", "max_hops=3").exit_code == 1


async def seed_activations(bot_id: str) -> None:
    db = Database(load_settings().resolved_database_url)
    try:
        setup = await ensure_home(db)
        assert setup.lobby is not None
        async with db.write() as session:
            side = await create_room(session, setup.house.id, "side", None)
            t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
            session.add_all([
                Activation(bot_id=bot_id, house_id=setup.house.id, room_id=setup.lobby.id,
                           trigger_message_id="m1", trigger_kind="mention", status="done",
                           outcome="replied", model="offline/shoal-offline",
                           input_tokens=321, output_tokens=45, duration_ms=87, created_at=t0,
                           payload={"tools": [{"name": "save", "status": "done",
                                               "duration_ms": 12}]}),
                Activation(bot_id=bot_id, house_id=setup.house.id, room_id=setup.lobby.id,
                           trigger_message_id="m2", trigger_kind="ambient", status="done",
                           outcome="skipped", skip_reason="cooldown",
                           created_at=t0 + timedelta(minutes=1)),
                Activation(bot_id=bot_id, house_id=setup.house.id, room_id=side.id,
                           trigger_message_id="m3", trigger_kind="mention", status="done",
                           outcome="error", error="the webhook answered HTTP 500",
                           created_at=t0 + timedelta(minutes=2)),
            ])
    finally:
        await db.dispose()


def test_activations_lists_the_log_newest_first(data_dir: Path) -> None:
    assert shoal("bot", "create", "Helper").exit_code == 0
    empty = shoal("activations", "@helper")
    assert empty.exit_code == 0 and "@helper has no activations yet." in empty.output
    asyncio.run(seed_activations(asyncio.run(stored_bot("helper")).id))
    shown = shoal("activations", "@helper")
    assert shown.exit_code == 0, shown.output
    lines = [line for line in shown.output.splitlines() if "2026-03-01" in line]
    assert len(lines) == 3
    assert "#side" in lines[0] and "the webhook answered HTTP 500" in lines[0]
    assert "ambient" in lines[1] and "cooldown" in lines[1]
    assert "replied" in lines[2] and "321/45" in lines[2] and "87" in lines[2]
    assert "save done 12ms" in shown.output  # each tool call: name, status, duration
    lobby = shoal("activations", "@helper", "--room", "lobby", "--limit", "1")
    assert [line for line in lobby.output.splitlines() if "2026-03-01" in line][0].count(
        "cooldown") == 1
    assert "#side" not in lobby.output and "replied" not in lobby.output
    assert shoal("activations", "@helper", "--room", "nowhere").exit_code == 1
    assert shoal("activations", "@nobody").exit_code == 1
