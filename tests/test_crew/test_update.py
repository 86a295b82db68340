"""CREW_UPDATE's block: the seed's exact layout, and its filter table per receiving role."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from shoal.core import Shoal
from shoal.crew.status import crew_status
from shoal.crew.tables import Crew, CrewMember
from shoal.crew.update import crew_update
from tests.test_crew.support import CrewRows, add_lock, add_task, make_crew, record, start_work
from tests.test_scheduler.conftest import clock, migrated, shoal

__all__ = ["clock", "migrated", "shoal"]  # the fixtures these tests use

AT = datetime(2026, 3, 4, 5, 30, tzinfo=UTC)


async def block(shoal: Shoal, crew: CrewRows, role: str) -> str:
    async with shoal.db.read() as session:
        row = await session.get(Crew, crew.crew_id)
        assert row is not None
        return await crew_update(session, await crew_status(session, row), role)


async def test_the_block_is_exactly_the_seeds_layout(shoal: Shoal) -> None:
    crew = await make_crew(shoal.db, [("lead1", "lead"), ("abc123", "developer"),
                                      ("def456", "code-reviewer")], agent_budget=50)
    await start_work(shoal.db, crew, "lead1")
    await start_work(shoal.db, crew, "abc123", status="pending")
    await add_task(shoal.db, crew, "Implement auth module", "in_progress", "abc123")
    await add_task(shoal.db, crew, "Review auth changes", "in_progress", "def456")
    await add_task(shoal.db, crew, "Write the docs", "todo", "def456")
    await add_lock(shoal.db, crew, "src/auth.ts", "abc123")
    await add_lock(shoal.db, crew, "src/a.ts", "abc123")
    await record(shoal.db, crew, "abc123", "file_edit",
                 "Commit: feat: add auth module (2 files)", AT)
    await record(shoal.db, crew, "def456", "message_to_lead", "Message → Lead (lead1)",
                 AT - timedelta(seconds=30))
    await record(shoal.db, crew, "def456", "dm", "Message → Developer (abc123)",
                 AT - timedelta(seconds=20))
    await record(shoal.db, crew, None, "status_change", "running → idle",
                 AT - timedelta(minutes=1))

    assert await block(shoal, crew, "lead") == "\n".join([
        "⟦⟦ CREW_UPDATE",
        "== CURRENT CREW STATUS ==",
        "- Agent lead1 (Lead) — Status: running, Working on: none, Files locked: none",
        "- Agent abc123 (Developer) — Status: running, Working on: Implement auth module, "
        "Files locked: src/a.ts, src/auth.ts",
        "- Agent def456 (Code Reviewer) — Status: idle, Working on: Review auth changes, "
        "Files locked: none",
        "",
        "== AGENT BUDGET ==",
        "Running: 2 / 50 | Available slots: 48",
        "",
        "== RECENT ACTIVITY ==",
        "[2026-03-04 05:30:00] Agent abc123 (developer): file_edit — "
        "Commit: feat: add auth module (2 files)",
        "[2026-03-04 05:29:30] Agent def456 (code-reviewer): message_to_lead — "
        "Message → Lead (lead1)",
        "[2026-03-04 05:29:00] Shoal: status_change — running → idle",
        "CREW_UPDATE ⟧⟧",
    ])


async def test_an_empty_feed_says_none_and_members_who_left_are_not_listed(
        shoal: Shoal) -> None:
    crew = await make_crew(shoal.db, [("boss", "lead"), ("gone", "developer")],
                           agent_budget=5)
    async with shoal.db.write() as session:
        await session.execute(update(CrewMember).where(CrewMember.bot_id == crew["gone"])
                              .values(left_at=AT))
    text = await block(shoal, crew, "lead")
    assert "gone" not in text
    assert text.endswith("Running: 0 / 5 | Available slots: 5\n\n== RECENT ACTIVITY ==\n"
                         "none\nCREW_UPDATE ⟧⟧")


# The seed's table: (activity kind, its data, shown to receivers, shown to the secretary).
FILTER_TABLE: list[tuple[str, str, dict[str, Any], bool, bool]] = [
    ("file edits", "file_edit", {"files": ["a.py"]}, True, True),
    ("commits", "file_edit", {"commit": "abc"}, True, True),
    ("messages to the lead", "message_to_lead", {}, True, True),
    ("completion reports", "report", {"kind": "completion"}, True, True),
    ("status changes", "status_change", {"from": "running", "to": "idle"}, True, True),
    ("errors", "error", {}, True, True),
    ("error reports (CI failures)", "report", {"kind": "error"}, True, True),
    ("inter-agent DMs", "dm", {}, False, False),
    ("group messages", "group_message", {}, False, False),
    ("lock acquired: secretary only", "lock_acquired", {"resource": "a.py"}, False, True),
    ("lock denied: secretary only", "lock_denied", {"resource": "a.py"}, False, True),
]


@pytest.mark.parametrize(("row", "kind", "data", "to_receivers", "to_secretary"),
                         FILTER_TABLE, ids=[r[0] for r in FILTER_TABLE])
async def test_each_row_of_the_seeds_filter_table(shoal: Shoal, row: str, kind: str,
                                                  data: dict[str, Any], to_receivers: bool,
                                                  to_secretary: bool) -> None:
    crew = await make_crew(shoal.db, [("boss", "lead"), ("arch", "architect"),
                                      ("sec", "secretary"), ("dev", "developer")])
    await record(shoal.db, crew, "dev", kind, f"the {row} line", AT, data)
    line = f"Agent dev (developer): {kind} — the {row} line"
    for role in ("lead", "architect"):
        assert (line in await block(shoal, crew, role)) is to_receivers, role
    assert (line in await block(shoal, crew, "secretary")) is to_secretary


async def test_progress_and_blocker_reports_go_to_the_lead_directly_not_in_the_block(
        shoal: Shoal) -> None:
    crew = await make_crew(shoal.db, [("boss", "lead"), ("dev", "developer")])
    await record(shoal.db, crew, "dev", "report", "halfway there", AT, {"kind": "progress"})
    await record(shoal.db, crew, "dev", "report", "stuck on CI", AT, {"kind": "blocker"})
    text = await block(shoal, crew, "lead")
    assert "halfway there" not in text and "stuck on CI" not in text


async def test_recent_activity_is_the_newest_twenty_the_role_sees(shoal: Shoal) -> None:
    crew = await make_crew(shoal.db, [("boss", "lead"), ("dev", "developer")])
    for i in range(30):  # a busy feed: edits between private messages
        await record(shoal.db, crew, "dev", "file_edit", f"edit {i}", AT + timedelta(seconds=i))
        await record(shoal.db, crew, "dev", "dm", f"dm {i}", AT + timedelta(seconds=i))
    lines = (await block(shoal, crew, "lead")).split("== RECENT ACTIVITY ==\n")[1].splitlines()
    assert [line.rsplit("— ", 1)[1] for line in lines[:-1]] == [
        f"edit {i}" for i in range(29, 9, -1)]
