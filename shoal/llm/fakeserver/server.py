"""A fake model provider on loopback for tests, demos and agent authors: scripted answers,
injected faults, and a record of every request it received."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from shoal.llm.embeddings import offline_embedding
from shoal.llm.fakeserver import wire
from shoal.llm.fakeserver.script import Fault, Reply, ScriptItem, item_from_json


@dataclass(slots=True)
class RecordedRequest:
    """One request the fake provider received."""

    wire: str
    model: str
    api_key: str | None
    stream: bool
    body: dict[str, Any]
    received_at: float = field(default_factory=time.monotonic)
    disconnected_at: float | None = None  # when the client hung up before the answer ended


class FakeLLMServer:
    """Speaks OpenAI Chat Completions (`openai_base_url`), Anthropic Messages
    (`anthropic_base_url`) and Gemini (`gemini_base_url`) on 127.0.0.1.

    Use as `async with FakeLLMServer() as fake:`; queue answers with `fake.script(...)`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.default_reply = Reply()
        self.requests: list[RecordedRequest] = []
        self._queues: dict[str | None, deque[ScriptItem]] = {}
        self._key_faults: dict[str, Fault] = {}
        self._runner: web.AppRunner | None = None

    # -- scripting ---------------------------------------------------------------------

    def script(self, *items: ScriptItem, model: str | None = None) -> None:
        """Queue answers, used once each in order; `model` limits them to one model."""
        self._queues.setdefault(model, deque()).extend(items)

    def fail_key(self, api_key: str, fault: Fault) -> None:
        """Answer every request made with this key with this fault."""
        self._key_faults[api_key] = fault

    def reset(self) -> None:
        """Forget scripts, key faults and recorded requests."""
        self._queues.clear()
        self._key_faults.clear()
        self.requests.clear()
        self.default_reply = Reply()

    def _next_item(self, model: str, api_key: str | None) -> ScriptItem:
        if api_key is not None and api_key in self._key_faults:
            return self._key_faults[api_key]
        for selector in (model, None):
            queue = self._queues.get(selector)
            if queue:
                return queue.popleft()
        return self.default_reply

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Root URL of the server."""
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """Base URL for the openai SDK (and OPENAI_BASE_URL)."""
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """Base URL for the anthropic SDK (and ANTHROPIC_BASE_URL)."""
        return self.url

    @property
    def gemini_base_url(self) -> str:
        """Base URL for google-genai (and GOOGLE_GEMINI_BASE_URL)."""
        return self.url

    def app(self) -> web.Application:
        """The aiohttp application, for embedding or `web.run_app`."""
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_post("/chat/completions", self._openai)
        app.router.add_get("/v1/models", self._openai_models)
        app.router.add_post("/v1/embeddings", self._openai_embeddings)
        app.router.add_post("/v1/messages", self._anthropic)
        app.router.add_post("/{version:v1(beta)?}/models/{target}", self._gemini)
        app.router.add_post("/_fake/script", self._control_script)
        app.router.add_get("/_fake/requests", self._control_requests)
        return app

    async def start(self) -> FakeLLMServer:
        """Listen on the host and port (port 0 picks a free one)."""
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeLLMServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- handlers ----------------------------------------------------------------------

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        key = request.headers.get("Authorization", "").removeprefix("Bearer ") or None
        stream = bool(body.get("stream"))
        rec = self._record("openai", str(body.get("model", "")), key, stream, body)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def frames(reply: Reply, usage: tuple[int, int]) -> Iterator[bytes]:
            return wire.openai_frames(reply, rec.model, usage, include_usage)

        return await self._answer(request, rec, frames, wire.openai_whole)

    async def _openai_embeddings(self, request: web.Request) -> web.StreamResponse:
        """Embeddings as OpenAI answers them: the offline embedder's vectors, so a test can
        check that meaning-search works through a real provider call; a key fault applies."""
        body = await request.json()
        key = request.headers.get("Authorization", "").removeprefix("Bearer ") or None
        rec = self._record("openai-embeddings", str(body.get("model", "")), key, False, body)
        fault = self._key_faults.get(key or "")
        if fault is not None:
            return await self._fault(request, rec, fault)
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else list(texts or [])
        return web.json_response({"object": "list", "model": rec.model, "data": [
            {"object": "embedding", "index": i, "embedding": offline_embedding(str(t))}
            for i, t in enumerate(texts)], "usage": {"prompt_tokens": 0, "total_tokens": 0}})

    async def _gemini_embeddings(self, request: web.Request, model: str) -> web.StreamResponse:
        """Gemini's batchEmbedContents, answered with the offline embedder's vectors."""
        body = await request.json()
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        rec = self._record("gemini-embeddings", model, key, False, body)
        fault = self._key_faults.get(key or "")
        if fault is not None:
            return await self._fault(request, rec, fault)
        texts = [" ".join(str(p.get("text", "")) for p in (r.get("content") or {}).get("parts", []))
                 for r in body.get("requests", [])]
        return web.json_response({"embeddings": [{"values": offline_embedding(t)}
                                                 for t in texts]})

    async def _openai_models(self, request: web.Request) -> web.Response:
        """The OpenAI model list, as Ollama and other local servers answer it."""
        return web.json_response({"object": "list", "data": [
            {"id": "fake-model", "object": "model", "owned_by": "shoal-fake"}]})

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        # Older anthropic SDKs send x-api-key, newer ones a bearer token.
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ") or None
        key = request.headers.get("x-api-key") or bearer
        rec = self._record(
            "anthropic", str(body.get("model", "")), key, bool(body.get("stream")), body
        )

        def frames(reply: Reply, usage: tuple[int, int]) -> Iterator[bytes]:
            return wire.anthropic_frames(reply, rec.model, usage)

        return await self._answer(request, rec, frames, wire.anthropic_whole)

    async def _gemini(self, request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["target"].partition(":")
        if method == "batchEmbedContents":
            return await self._gemini_embeddings(request, model)
        if method not in ("generateContent", "streamGenerateContent"):
            raise web.HTTPNotFound()
        body = await request.json()
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        rec = self._record("gemini", model, key, method == "streamGenerateContent", body)

        def frames(reply: Reply, usage: tuple[int, int]) -> Iterator[bytes]:
            return wire.gemini_frames(reply, rec.model, usage)

        return await self._answer(request, rec, frames, wire.gemini_whole)

    def _record(
        self, wire_name: str, model: str, key: str | None, stream: bool, body: dict[str, Any]
    ) -> RecordedRequest:
        rec = RecordedRequest(wire_name, model, key, stream, body)
        self.requests.append(rec)
        return rec

    async def _answer(
        self, request: web.Request, rec: RecordedRequest, frames: Any, whole: Any
    ) -> web.StreamResponse:
        item = self._next_item(rec.model, rec.api_key)
        if isinstance(item, Fault):
            return await self._fault(request, rec, item)
        usage = (
            item.input_tokens if item.input_tokens is not None else len(json.dumps(rec.body)) // 4,
            item.output_tokens
            if item.output_tokens is not None
            else len(item.chunks()) + len(item.tool_calls),
        )
        if not rec.stream:
            return web.json_response(whole(item, rec.model, usage))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            for i, frame in enumerate(frames(item, usage)):
                if item.stall_after is not None and i >= item.stall_after:
                    await self._hold(request, rec)
                    return response
                await response.write(frame)
                if item.chunk_delay:
                    await asyncio.sleep(item.chunk_delay)
            await response.write_eof()
        except (ConnectionResetError, ConnectionError):
            rec.disconnected_at = time.monotonic()
        return response

    async def _fault(
        self, request: web.Request, rec: RecordedRequest, fault: Fault
    ) -> web.StreamResponse:
        if fault.kind == "stall":
            await self._hold(request, rec)
            return web.Response(status=504)
        if fault.kind == "malformed":
            ctype = "text/event-stream" if rec.stream else "application/json"
            text = "data: {not json\n\n" if rec.stream else "{not json"
            return web.Response(status=200, text=text, content_type=ctype)
        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
        return web.json_response(
            wire.error_body(rec.wire, fault), status=fault.status, headers=headers
        )

    async def _hold(self, request: web.Request, rec: RecordedRequest) -> None:
        # A stall: keep the connection open, sending nothing, until the client gives up.
        while request.transport is not None and not request.transport.is_closing():
            await asyncio.sleep(0.01)
        rec.disconnected_at = time.monotonic()

    async def _control_script(self, request: web.Request) -> web.Response:
        raw = await request.json()
        entries = raw if isinstance(raw, list) else [raw]
        load_script(entries, self)
        return web.json_response({"queued": len(entries)})

    async def _control_requests(self, request: web.Request) -> web.Response:
        return web.json_response(
            [
                {"wire": r.wire, "model": r.model, "stream": r.stream, "body": r.body}
                for r in self.requests
            ]
        )


def load_script(entries: list[Mapping[str, Any]], server: FakeLLMServer) -> None:
    """Queue a JSON script (a list of entries, each optionally with a `model`)."""
    for entry in entries:
        server.script(item_from_json(entry), model=entry.get("model"))


@contextmanager
def serve_in_thread(server: FakeLLMServer | None = None) -> Iterator[FakeLLMServer]:
    """Run a fake provider on its own thread and event loop, for synchronous tests."""
    server = server or FakeLLMServer()
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="fake-llm", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the fake provider did not start")
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
