"""A request body cap applied before any handler reads the body."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from starlette.exceptions import HTTPException

Scope = dict[str, Any]


class BodySizeLimit:
    """ASGI middleware: HTTP bodies over `max_bytes` get 413 with the JSON error shape.
    `larger` gives multipart bodies on some paths (file uploads) their own cap and refusal:
    (path pattern, bytes, sentence)."""

    def __init__(self, app: Any, max_bytes: int,
                 larger: Sequence[tuple[str, int, str]] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = [(re.compile(pattern), most, why) for pattern, most, why in larger]

    def _limit(self, scope: Scope) -> tuple[int, str]:
        if self.larger and _is_multipart(scope):
            for pattern, most, why in self.larger:
                if pattern.fullmatch(scope["path"]):
                    return most, why
        return self.max_bytes, _TooLarge(self.max_bytes).detail

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes, why = self._limit(scope)
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > max_bytes:
                await self._reject(send, why)
                return
        seen = 0
        started = False

        async def limited_receive() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    raise _TooLarge(max_bytes, why)
            return message

        async def tracking_send(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(send, why)

    async def _reject(self, send: Any, why: str) -> None:
        body = json.dumps({"error": why}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def _is_multipart(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return bool(value.lower().startswith(b"multipart/form-data"))
    return False


class _TooLarge(HTTPException):
    # An HTTPException, so that FastAPI, reading the body, answers it as it is.
    def __init__(self, max_bytes: int, why: str | None = None) -> None:
        super().__init__(413, why or f"request body is larger than the {max_bytes}-byte limit")
