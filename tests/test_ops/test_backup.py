"""`shoal backup` and `shoal restore` on SQLite: a snapshot taken while Shoal runs, brought
back over a database that moved on, and everything read back through the API."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from shoal.cli import app
from tests.receiver import receiver
from tests.support import serve
from tests.test_ops.installation import SECRET, fill, installation_settings, read_back


def said(result: Any) -> str:
    """What a command printed, its lines joined as a reader reads them."""
    return " ".join(result.output.split())


def cli(data_dir: Path, *args: str, **env: str) -> Any:
    env = {"SHOAL_DATA_DIR": str(data_dir), "SHOAL_SECRET": SECRET,
           "SHOAL_DATABASE_URL": "", "SHOAL_CONFIG": "", **env}
    return CliRunner().invoke(app, list(args), env=env)


async def test_a_snapshot_taken_while_running_is_restored_whole(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    snapshot = tmp_path / "snap.db"
    async with receiver() as hook:
        async for server in serve(installation_settings(data_dir)):
            await server.bootstrap()
            filled = await fill(server, hook)
            result = await asyncio.to_thread(cli, data_dir, "backup", str(snapshot))
            assert result.exit_code == 0, said(result)
            assert f"to {snapshot}" in said(result) and "Keep the server secret" in \
                said(result)
            again = await asyncio.to_thread(cli, data_dir, "backup", str(snapshot))
            assert again.exit_code == 1 and "already exists" in said(again)
            # The installation moves on after the snapshot.
            owner = server.http(filled.tokens["owner"])
            r = await owner.post(f"/api/agencies/{filled.room_id}/messages",
                                 json={"content": "written after the backup"})
            assert r.status_code == 201, r.text
            busy = await asyncio.to_thread(cli, data_dir, "restore", str(snapshot), "--force")
            assert busy.exit_code == 1 and "is in use: stop Shoal" in said(busy)

        refused = await asyncio.to_thread(cli, data_dir, "restore", str(snapshot))
        assert refused.exit_code == 1 and "pass --force to replace it" in said(refused)
        restored = await asyncio.to_thread(cli, data_dir, "restore", str(snapshot), "--force")
        assert restored.exit_code == 0, said(restored)
        assert "kept as" in said(restored)
        assert list(data_dir.glob("shoal.db.before-restore-*"))

        async for server in serve(installation_settings(data_dir)):
            answers = await read_back(server, filled)
            for name, expected in filled.reads.items():
                if name != "paths":
                    assert answers[name] == expected, name
            contents = [m["content"] for m in answers["messages"]]
            assert "written after the backup" not in contents


def test_restore_refuses_a_file_that_is_not_a_shoal_database(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    result = cli(tmp_path / "data", "restore", str(junk))
    assert result.exit_code == 1 and "is not a Shoal database" in said(result)
    assert not (tmp_path / "data" / "shoal.db").exists()
    missing = cli(tmp_path / "data", "restore", str(tmp_path / "nope.db"))
    assert missing.exit_code == 1 and "there is no file" in said(missing)


def test_backup_on_postgresql_explains_pg_dump(tmp_path: Path) -> None:
    result = cli(tmp_path, "backup",
                 SHOAL_DATABASE_URL="postgresql://shoal:pw-secret@db.internal/shoal")
    assert result.exit_code == 1
    assert "pg_dump --format=custom" in said(result) and "pg_restore" in said(result)
    assert "pw-secret" not in said(result) and "db.internal/shoal" in said(result)
