"""`shoal copy-data`: a SQLite installation filled through the API, copied into an empty
PostgreSQL database, served from there and read back whole; secrets still decrypt."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shoal.cli import app
from tests.receiver import receiver
from tests.support import database_beside, make_settings, serve
from tests.test_ops.installation import (
    SECRET,
    WEBHOOK_SECRET,
    eventually,
    fill,
    installation_settings,
    read_back,
)
from tests.test_webhooks.conftest import verified

BASE_URL = os.environ.get("SHOAL_TEST_DATABASE_URL")
pytestmark = pytest.mark.skipif(not BASE_URL, reason="set SHOAL_TEST_DATABASE_URL to run")


async def copy_target() -> str:
    """An empty PostgreSQL database beside the test database (`<name>_copy`)."""
    return await database_beside("copy")


def said(result: Any) -> str:
    """What a command printed, its lines joined as a reader reads them."""
    return " ".join(result.output.split())


def cli(data_dir: Path, *args: str) -> Any:
    env = {"SHOAL_DATA_DIR": str(data_dir), "SHOAL_SECRET": SECRET,
           "SHOAL_DATABASE_URL": "", "SHOAL_CONFIG": ""}
    return CliRunner().invoke(app, list(args), env=env)


async def test_a_filled_sqlite_installation_moves_to_postgresql(tmp_path: Path) -> None:
    target = await copy_target()
    plain_target = target.replace("postgresql+asyncpg://", "postgresql://")
    data_dir = tmp_path / "sqlite"
    async with receiver() as hook:
        async for server in serve(installation_settings(data_dir)):
            await server.bootstrap()
            filled = await fill(server, hook)
            # While the server has the database open, nothing is copied.
            refused = await asyncio.to_thread(cli, data_dir, "copy-data", "--to", plain_target)
            assert refused.exit_code == 1 and "is in use: stop Shoal" in said(refused)

        result = await asyncio.to_thread(cli, data_dir, "copy-data", "--to", plain_target)
        assert result.exit_code == 0, said(result)
        assert "every table's row count and checksum match" in said(result)
        assert "messages: " in said(result) and "provider_keys: 1 rows" in said(result)
        assert f"SHOAL_DATABASE_URL={plain_target}" in said(result)

        # Copying again finds the database no longer empty, and changes nothing.
        again = await asyncio.to_thread(cli, data_dir, "copy-data", "--to", plain_target)
        assert again.exit_code == 1 and "is not empty" in said(again)

        settings = make_settings(tmp_path / "pg", "postgres", database_url=target,
                                 outbound_allow_private=True)
        async for copy in serve(settings):
            answers = await read_back(copy, filled)
            for name, expected in filled.reads.items():
                if name != "paths":
                    assert answers[name] == expected, name
            assert len(answers["messages"]) >= 7 and answers["activations"]
            # New messages continue the room's seqs, and the subscription's secret, still
            # encrypted with the same server secret, signs the delivery.
            before = len(hook.requests)
            owner = copy.http(filled.tokens["owner"])
            r = await owner.post(f"/api/agencies/{filled.room_id}/messages",
                                 json={"content": "on PostgreSQL now"})
            assert r.status_code == 201, r.text
            assert r.json()["seq"] == max(m["seq"] for m in answers["messages"]) + 1

            async def delivered(before: int = before) -> bool:
                return len(hook.requests) > before

            await eventually(delivered)
            body = verified(hook.requests[-1], WEBHOOK_SECRET)
            assert body["message"]["content"] == "on PostgreSQL now"
            # The copied messages are searchable there, and so is the new one: the search
            # index came along and its triggers are back on.
            for words, content in (("PostgreSQL now", "on PostgreSQL now"),
                                   ("message 0", "message 0 with ünïcode ✓")):
                found = await owner.get("/api/search", params={"q": words})
                assert found.status_code == 200, found.text
                assert content in [hit["content"] for hit in found.json()["results"]], words


def test_copy_data_refuses_what_it_cannot_copy(tmp_path: Path) -> None:
    missing = cli(tmp_path / "nothing-here", "copy-data", "--to", "postgresql://x@127.0.0.1/y")
    assert missing.exit_code == 1 and "there is no database at" in said(missing)
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "shoal.db").touch()
    sqlite = cli(tmp_path / "db", "copy-data", "--to", "sqlite:///elsewhere.db")
    assert sqlite.exit_code == 1 and "--to must be a PostgreSQL URL" in said(sqlite)
