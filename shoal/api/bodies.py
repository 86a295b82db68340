"""JSON request bodies checked before routing: unusable text is a 400 naming the field."""

from __future__ import annotations

import json
from typing import Any

from shoal.jsontext import UnusableText, parse_json

Scope = dict[str, Any]
# Engine.IO's long-polling bodies are not JSON documents; the gateway checks socket events.
SKIPPED_PATHS = ("/socket.io",)


class JsonTextCheck:
    """ASGI middleware: a request whose body is JSON (by its content type, or with none, as
    FastAPI then reads it) and holds a lone surrogate, a NUL, nesting deeper than the limit or
    bytes that are not UTF-8 is answered 400 before any handler runs."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not _may_be_json(scope):
            await self.app(scope, receive, send)
            return
        messages, body = await _read_body(receive)
        problem = _problem(body, declared=_content_type(scope) is not None)
        if problem is not None:
            await _refuse(send, problem)
            return
        replay = iter(messages)

        async def replayed_receive() -> Any:
            return next(replay, None) or await receive()

        await self.app(scope, replayed_receive, send)


def _content_type(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return str(value.decode("latin-1").split(";")[0].strip().lower())
    return None


def _may_be_json(scope: Scope) -> bool:
    if scope["method"] in ("GET", "HEAD", "OPTIONS") or scope["path"].startswith(SKIPPED_PATHS):
        return False
    kind = _content_type(scope)
    return kind is None or kind == "application/json" or kind.endswith("+json")


async def _read_body(receive: Any) -> tuple[list[Any], bytes]:
    messages, chunks = [], []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return messages, b"".join(chunks)


def _problem(body: bytes, *, declared: bool) -> str | None:
    """Why the body is refused, or None. A body that is not JSON at all passes on: the
    handler answers it as it always has (and a body without a content type may be anything)."""
    if not body or (not declared and body.lstrip()[:1] not in (b"{", b"[", b'"')):
        return None
    try:
        parse_json(body, "the request body")
    except UnusableText as exc:
        return exc.message
    except ValueError:
        return None
    return None


async def _refuse(send: Any, problem: str) -> None:
    body = json.dumps({"error": problem}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
