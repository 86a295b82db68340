"""The README's code runs as it says: its Socket.IO script, against a real Shoal."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from tests.support import ShoalServer

README = Path(__file__).resolve().parents[1] / "README.md"


def python_block_after(sentence: str) -> str:
    """The first ```python block after a sentence of the README."""
    text = README.read_text()
    found = re.search(r"```python\n(.*?)```", text[text.index(sentence):], re.S)
    assert found, f"no python block after {sentence!r}"
    return found.group(1)


async def test_the_socketio_script_runs_as_a_script(shoal_server: ShoalServer,
                                                    tmp_path: Path) -> None:
    script = tmp_path / "live.py"
    script.write_text(python_block_after("Live traffic is Socket.IO v4"))
    person = await shoal_server.register()
    env = {**os.environ, "TOKEN": person.token, "LOBBY": shoal_server.lobby_id,
           "SHOAL_URL": shoal_server.url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(proc.communicate(), 60)
    text = output.decode()
    assert proc.returncode == 0, text
    assert "joined; " in text and "/notes (only you see it): " in text
    r = await person.get(f"/api/agencies/{shoal_server.lobby_id}/messages",
                         params={"limit": 20})
    mine = [m for m in r.json() if m["sender_id"] == person.id]
    assert [(m["content"], m["metadata"]) for m in mine] == [("hi", {"k": 1})]
