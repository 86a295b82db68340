"""Browser tests: a real Shoal on loopback (SQLite) and Debian's Chromium driven by Playwright.

The server runs in a thread with its own event loop, so tests use Playwright's sync API and
can still act on the server directly (`web.run(coro)`) or through its API (`web.api(...)`).
Screenshots go to `test-output/screenshots/` so a person can look at the screens.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from shoal.bootstrap import ensure_demo_agent, ensure_home
from tests.support import ShoalServer, make_settings, serve, unique

playwright_sync = pytest.importorskip("playwright.sync_api")
Browser = playwright_sync.Browser
Page = playwright_sync.Page

CHROMIUM = os.environ.get("SHOAL_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
PASSWORD = "correct horse battery"
LOADED = ".shell .sidebar[data-loaded]"  # signed in, and the app knows its rooms
T = TypeVar("T")


@dataclass
class WebServer:
    """A Shoal served on loopback from a background thread, with the demo's owner and agent."""

    url: str
    server: ShoalServer
    loop: asyncio.AbstractEventLoop
    owner_username: str
    owner_password: str
    helper: str  # the demo agent's @handle, on the offline model
    home_id: str = ""
    lobby_id: str = ""
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run a coroutine on the server's loop (to reach its services directly)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def api(self, token: str | None, method: str, path: str, body: Any = None) -> Any:
        """Call the REST API as the token's owner; a non-2xx answer fails the test."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        r = self.http.request(method, path, json=body, headers=headers)
        assert r.is_success, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    def register_api(self, username: str | None = None, display_name: str | None = None
                     ) -> tuple[str, dict[str, Any]]:
        """A new person registered through the API: (token, user)."""
        body = self.api(None, "POST", "/api/auth/register", {
            "username": username or unique(), "password": PASSWORD,
            "displayName": display_name})
        return body["token"], body["user"]

    def owner_token(self) -> str:
        """A fresh session of the demo's owner."""
        return str(self.api(None, "POST", "/api/auth/login", {
            "username": self.owner_username, "password": self.owner_password})["token"])

    def post(self, token: str, room_id: str, content: str, **extra: Any) -> dict[str, Any]:
        """Post a message to a room as the token's owner."""
        return dict(self.api(token, "POST", f"/api/agencies/{room_id}/messages",
                             {"content": content, **extra}))


def _serve_in_thread(tmp: Path) -> tuple[WebServer, Callable[[], None]]:
    ready: Future[WebServer] = Future()
    stop: asyncio.Event | None = None

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        settings = make_settings(tmp, "sqlite", llm={"primary": "offline", "fallbacks": []})
        try:
            async for server in serve(settings):
                setup = await ensure_home(server.shoal.db, owner_username="owner",
                                          passwords=server.shoal.passwords)
                # An unused port: no Ollama is found, so the demo agent is offline.
                agent = await ensure_demo_agent(server.shoal.db, {},
                                                ollama_url="http://127.0.0.1:9/api/tags")
                assert setup.password and setup.lobby
                ready.set_result(WebServer(
                    server.url, server, asyncio.get_running_loop(), "owner", setup.password,
                    agent.handle, setup.house.id, setup.lobby.id))
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="shoal-web-server",
                              daemon=True)
    thread.start()
    web = ready.result(timeout=60)

    def shutdown() -> None:
        web.http.close()
        assert stop is not None
        web.loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)

    return web, shutdown


@pytest.fixture(scope="session")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    """One Shoal for every browser test; tests stay apart by creating their own users."""
    server, shutdown = _serve_in_thread(tmp_path_factory.mktemp("shoal-web"))
    yield server
    shutdown()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless (no `playwright install`: the system browser is used).
    Module-scoped: while Playwright's sync API runs, the thread counts as inside an event
    loop, so async tests of later modules could not run before it stops."""
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser: Browser, web: WebServer) -> Iterator[Callable[..., Page]]:
    """Open pages, each in a browser context of its own (its own storage: a separate
    person). Any uncaught script error on a page fails the test."""
    contexts: list[Any] = []
    errors: list[str] = []

    def open_page(path: str = "/", *, width: int = 1280, height: int = 800) -> Page:
        context = browser.new_context(base_url=web.url,
                                      viewport={"width": width, "height": height})
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(path)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


def register(page: Page, username: str | None = None, display_name: str | None = None,
             password: str = PASSWORD) -> str:
    """Register through the app's form; returns the username. Ends in the app's shell, its
    rooms loaded."""
    username = username or unique()
    page.goto("/register")
    page.fill("input[name=username]", username)
    page.fill("input[name=displayName]", display_name or username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector(LOADED)
    return username


def login(page: Page, username: str, password: str = PASSWORD) -> None:
    """Log in through the app's form. Ends in the app's shell, its rooms loaded."""
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector(LOADED)


def login_with_token(page: Page, token: str, path: str = "/") -> None:
    """Start a page already logged in with a session token (skips the form); ends with the
    app's rooms loaded."""
    page.evaluate("token => localStorage.setItem('shoal.token', token)", token)
    page.goto(path)
    page.wait_for_selector(LOADED)


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as test-output/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
