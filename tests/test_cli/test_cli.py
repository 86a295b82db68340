"""The `shoal` command line as an operator uses it."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from shoal.cli import app
from shoal.cli import server as server_commands
from shoal.config import load_settings
from shoal.rooms.rooms import room_members
from shoal.store import Database
from shoal.store.tables import Room


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOAL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SHOAL_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("SHOAL_ARGON2_MEMORY_KIB", "1024")
    for var in ("SHOAL_DATABASE_URL", "SHOAL_REDIS_URL", "SHOAL_CONFIG", "SHOAL_SECRET"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def shoal(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(app, list(args), input=stdin)


def test_user_bot_token_and_invite_commands(data_dir: Path) -> None:
    created = shoal("user", "create", "alice", "--role", "admin", stdin="a long password\n")
    assert created.exit_code == 0, created.output
    assert "Created alice (admin of Home, in #lobby)" in created.output
    again = shoal("user", "create", "alice", stdin="a long password\n")
    assert again.exit_code == 1 and "taken" in again.output
    short = shoal("user", "create", "bob", stdin="short\n")
    assert short.exit_code == 1 and "at least 8" in short.output

    bot = shoal("bot", "create", "Archive Bot", "--owner", "alice")
    assert bot.exit_code == 0 and "@archive-bot" in bot.output and "in #lobby)" in bot.output
    [bot_token] = re.findall(r"shb_\S+", bot.output)
    listed = shoal("token", "list", "archive-bot")
    assert "bot" in listed.output and bot_token not in listed.output

    made = shoal("token", "create", "alice", "--name", "ci", "--expires", "7d")
    [pat] = re.findall(r"shp_\S+", made.output)
    token_id = re.search(r"Token (\S+) for alice", made.output).group(1)  # type: ignore[union-attr]
    assert pat not in shoal("token", "list", "alice").output
    revoked = shoal("token", "revoke", "alice", token_id)
    assert revoked.exit_code == 0 and f"Revoked {token_id}" in revoked.output
    missing = shoal("token", "revoke", "alice", "no-such-id")
    assert missing.exit_code == 1 and "token not found" in missing.output

    invite = shoal("invite", "create", "--role", "member", "--max-uses", "3")
    assert invite.exit_code == 0 and re.search(r"shi_\S+", invite.output)
    assert shoal("invite", "create", "--role", "owner").exit_code == 1


def test_migrate_and_doctor(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    migrated = shoal("migrate")
    assert migrated.exit_code == 0 and "Schema at revision" in migrated.output
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    healthy = shoal("doctor")
    assert "database" in healthy.output and "schema up to date" in healthy.output
    monkeypatch.setenv("SHOAL_PORT", str(free))
    assert shoal("doctor").exit_code == 0
    # A database that is not there, and a Redis that is not there, are named in plain words.
    monkeypatch.setenv("SHOAL_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("SHOAL_REDIS_URL", "redis://127.0.0.1:1/0")
    broken = shoal("doctor")
    assert broken.exit_code == 1
    assert "cannot connect to 127.0.0.1:1/none" in broken.output
    assert "cannot reach redis://127.0.0.1:1/0" in broken.output
    assert "nobody@" not in broken.output
    monkeypatch.setenv("SHOAL_PORT", "99999")
    bad = shoal("doctor")
    assert bad.exit_code == 1 and "port must be at most 65535" in bad.output


def test_demo_prints_credentials_once_and_serves(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    keys = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_") and k not in keys}
    env.update(SHOAL_ARGON2_TIME_COST="1", SHOAL_ARGON2_MEMORY_KIB="1024")

    def run_demo() -> tuple[str, str | None]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "shoal", "demo", "--port", str(port)], cwd=tmp_path, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            output, password = "", None
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                line = proc.stdout.readline()  # type: ignore[union-attr]
                output += line
                found = re.search(r"password (\S+)  \(shown this once\)", line)
                password = found.group(1) if found else password
                if "Log in as owner" in line or password:
                    break
            for _ in range(100):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/api/health")
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            if password:
                r = httpx.post(f"http://127.0.0.1:{port}/api/auth/login",
                               json={"username": "owner", "password": password})
                assert r.status_code == 200, (output, password, r.text)
                rooms = httpx.get(f"http://127.0.0.1:{port}/api/agencies",
                                  headers={"Authorization": f"Bearer {r.json()['token']}"})
                assert [r["slug"] for r in rooms.json()] == ["lobby"]
                # Registration is open in the demo.
                r = httpx.post(f"http://127.0.0.1:{port}/api/auth/register",
                               json={"username": "visitor", "password": "long enough"})
                assert r.status_code == 201
            return output, password
        finally:
            proc.terminate()
            proc.wait(10)

    first, password = run_demo()
    assert password and f"http://127.0.0.1:{port}" in first
    assert (tmp_path / ".shoal-data" / "shoal.db").exists()
    # Without provider keys the agent is on a local Ollama if one runs, else offline.
    helper = re.search(r"@helper is on (\S+): mention it in #lobby", first)
    assert helper and (helper.group(1) == "offline/shoal-offline"
                       or helper.group(1).startswith("ollama/")), first
    second, again = run_demo()
    assert again is None and "Log in as owner" in second
    assert f"@helper is on {helper.group(1)}: mention it in #lobby" in second


def test_help_screens_show_no_value_type_after_flags() -> None:
    """`--help` and other flags take no value, so no help screen labels them `<bool>`."""
    def command_paths(group: Any, path: tuple[str, ...]) -> list[tuple[str, ...]]:
        paths = [path]
        for name, command in getattr(group, "commands", {}).items():
            paths += command_paths(command, (*path, name))
        return paths

    paths = command_paths(typer.main.get_command(app), ())
    assert ("serve",) in paths and ("hook", "create") in paths
    for path in paths:
        shown = shoal(*path, "--help")
        assert shown.exit_code == 0 and "--help" in shown.output, path
        assert "<bool>" not in shown.output, path
    assert "<int>" in shoal("serve", "--help").output  # options that take a value keep it


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The ports `shoal serve` went on to listen on (it returns at once instead)."""
    ports: list[int] = []
    monkeypatch.setattr(server_commands, "serve_app",
                        lambda settings, access_log: ports.append(settings.port))
    return ports


def test_serve_says_how_to_make_the_first_account_and_the_owner_is_in_the_lobby(
    data_dir: Path, served: list[int],
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    first = shoal("serve", "--port", port)
    assert first.exit_code == 0, first.output
    assert "No accounts yet; registration is by invitation." in first.output
    assert "shoal user create <username> --role owner" in first.output
    created = shoal("user", "create", "olive", "--role", "owner", stdin="a long password\n")
    assert created.exit_code == 0, created.output
    assert "Created olive (owner of Home, in #lobby)." in created.output
    again = shoal("serve", "--port", port)
    assert again.exit_code == 0 and "No accounts yet" not in again.output
    assert served == [int(port)] * 2

    async def lobby_members() -> list[str]:
        db = Database(load_settings(None).resolved_database_url)
        try:
            async with db.read() as session:
                lobby = await session.scalar(select(Room).where(Room.slug == "lobby"))
                assert lobby is not None
                return [u.username for _, u in await room_members(session, lobby)]
        finally:
            await db.dispose()

    assert asyncio.run(lobby_members()) == ["olive"]
    # The bots `shoal bot create` makes start there too, where SDK examples listen.
    assert shoal("bot", "create", "Echo").exit_code == 0
    assert asyncio.run(lobby_members()) == ["olive", "echo"]


def test_serve_on_a_taken_port_says_what_doctor_says(
    data_dir: Path, served: list[int], monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = shoal("serve", "--port", str(port))
        monkeypatch.setenv("SHOAL_PORT", str(port))
        doctor = shoal("doctor")
    assert result.exit_code == 1 and served == []
    assert "serving on" not in result.output and "Errno" not in result.output
    said = (f"cannot listen on 127.0.0.1:{port} (Address already in use); is Shoal already "
            "running? choose another with --port")
    assert said in " ".join(result.output.split())
    assert said in " ".join(doctor.output.split())
