"""The baseline for bench/fanout.py: a bare python-socketio relay on the same server stack
(uvicorn, ASGI, WebSocket) with no storage and no authentication."""

from __future__ import annotations

import itertools
import sys
from typing import Any

import socketio
import uvicorn

sio = socketio.AsyncServer(async_mode="asgi")
seq = itertools.count(1)


@sio.on("join-agency")
async def join(sid: str, data: dict[str, Any]) -> dict[str, Any]:
    await sio.enter_room(sid, data["agencyId"])
    return {"ok": True}


@sio.on("send-message")
async def send(sid: str, data: dict[str, Any]) -> dict[str, Any]:
    message = {**data, "seq": next(seq)}
    await sio.emit("message", message, room=data["agencyId"])
    return {"ok": True}


if __name__ == "__main__":
    uvicorn.run(socketio.ASGIApp(sio), host="127.0.0.1", port=int(sys.argv[1]),
                log_level="warning")
