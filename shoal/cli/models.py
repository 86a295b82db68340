"""`shoal models`, `shoal keys` and `shoal fake-llm`: the model layer from the command line."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table
from sqlalchemy import or_, select

from shoal.cli.common import (
    ConfigOption,
    ShoalGroup,
    console,
    fail,
    open_database,
    run,
    settings_from,
)
from shoal.config import Settings
from shoal.llm import ChatMessage, ChatRequest, Completion, KeyStore, build_router, reachable
from shoal.store.tables import House

models_app = typer.Typer(
    cls=ShoalGroup,
    help="See the model catalog and check that a model answers.", no_args_is_help=True
)
keys_app = typer.Typer(
    cls=ShoalGroup, help="Store provider API keys (encrypted) in Shoal.", no_args_is_help=True)

HouseOption = typer.Option(None, "--house", help="House id or slug (default: server-wide).")


async def _house_id(db: object, ref: str | None) -> str | None:
    if ref is None:
        return None
    async with db.read() as session:  # type: ignore[attr-defined]
        found = await session.scalar(
            select(House.id).where(or_(House.id == ref, House.slug == ref))
        )
    if found is None:
        fail(f"no house {ref!r}")
    return str(found)


@models_app.command("list")
def list_models(config: Path | None = ConfigOption) -> None:
    """Known models and aliases, which providers have keys, and profiles cooling down."""
    settings = settings_from(config)
    run(_list_models(settings))


async def _list_models(settings: Settings) -> None:
    """The catalog's models, then each provider's profiles and whether they can answer."""
    async with open_database(settings) as db:
        router = await build_router(settings, db)
        now = router.book.clock.now()
        models = Table("model", "aliases", "context", "keys")
        for ref, info in sorted(router.catalog.models.items()):
            spec = router.catalog.providers[ref.partition("/")[0]]
            profiles = await router.keys.profiles(spec)
            keys = (
                "not needed" if not spec.needs_key else (f"{len(profiles)}" if profiles else "none")
            )
            models.add_row(ref, ", ".join(info.aliases), f"{info.context_window:,}", keys)
        console.print(models)
        providers = Table("provider", "kind", "base URL", "state")
        providers.add_column("profile", overflow="fold")
        specs = sorted(router.catalog.providers.items())
        profiles_of = {name: await router.keys.profiles(spec) for name, spec in specs}
        # A provider at its own address is asked whether it is up, all at once: a local
        # server that is not running is the usual reason a model does not answer.
        asked = [(name, spec.base_url) for name, spec in specs
                 if spec.base_url and profiles_of[name]]
        answers = await asyncio.gather(*(reachable(url) for _, url in asked))
        down = {name: url for (name, url), up in zip(asked, answers, strict=True) if not up}
        for name, spec in specs:
            if not profiles_of[name]:
                providers.add_row(name, spec.kind, spec.base_url or "default", "no key", "-")
            for p in profiles_of[name]:
                until = router.book.unavailable_until(p.id)
                state = (f"not reachable at {down[name]}" if name in down
                         else f"cooling down {until - now:.0f} s" if until else "ready")
                providers.add_row(name, spec.kind, spec.base_url or "default", state, p.id)
        console.print(providers)


@models_app.command("check")
def check_model(
    ref: str = typer.Argument(..., help="Model reference or alias, e.g. sonnet or openai/gpt-5."),
    profile: str | None = typer.Option(None, "--profile", help="Use only this auth profile."),
    config: Path | None = ConfigOption,
) -> None:
    """Make one tiny call and report latency, tokens and the profile that answered."""
    settings = settings_from(config)
    run(_check(settings, ref, profile))


async def _check(settings: Settings, ref: str, profile: str | None) -> None:
    async with open_database(settings) as db:
        router = await build_router(settings, db)
        request = ChatRequest(
            [ChatMessage("user", "Reply with the single word OK.")], max_tokens=16
        )
        started = time.perf_counter()
        answer: Completion = await router.complete(request, [ref], pinned_profile=profile)
        elapsed = (time.perf_counter() - started) * 1000
    usage = answer.usage
    tokens = f"{usage.input_tokens} in, {usage.output_tokens} out" if usage else "not reported"
    console.print(f"{answer.model} answered in {elapsed:.0f} ms with profile {answer.profile}")
    console.print(f"tokens: {tokens}; finish: {answer.finish_reason}")
    console.print(f"answer: {answer.text.strip()[:200]!r}", markup=False)


@keys_app.command("add")
def add_key(
    provider: str = typer.Argument(..., help="Provider name, e.g. openai, anthropic, google."),
    house: str | None = HouseOption,
    label: str = typer.Option("", "--label", help="A note to tell keys apart."),
    config: Path | None = ConfigOption,
) -> None:
    """Store a key read from stdin (never from the command line, which shells remember)."""
    settings = settings_from(config)
    if sys.stdin.isatty():
        secret = typer.prompt(f"{provider} API key", hide_input=True)
    else:
        secret = sys.stdin.read()
    run(_add_key(settings, provider, secret, house, label))


async def _add_key(
    settings: Settings, provider: str, secret: str, house: str | None, label: str
) -> None:
    async with open_database(settings) as db:
        house_id = await _house_id(db, house)
        stored = await KeyStore(db, settings.ensure_secret()).add(
            provider, secret, house_id=house_id, label=label
        )
    console.print(f"stored {stored.provider} key {stored.hint} as {stored.id}")


@keys_app.command("list")
def list_keys(
    house: str | None = HouseOption,
    all_houses: bool = typer.Option(False, "--all", help="Server-wide and every house's keys."),
    config: Path | None = ConfigOption,
) -> None:
    """Stored keys, masked."""
    settings = settings_from(config)
    run(_list_keys(settings, house, all_houses))


async def _list_keys(settings: Settings, house: str | None, all_houses: bool) -> None:
    async with open_database(settings) as db:
        house_id = await _house_id(db, house)
        keys = await KeyStore(db, settings.ensure_secret()).list(house_id, all_houses=all_houses)
    table = Table("provider", "house", "label", "key", "added")
    table.add_column("id", overflow="fold")
    for k in keys:
        added = k.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
        table.add_row(k.provider, k.house_id or "server", k.label, k.hint, added, k.id)
    console.print(table if keys else "no stored keys")


@keys_app.command("remove")
def remove_key(
    key_id: str = typer.Argument(..., help="The id `shoal keys list` shows."),
    config: Path | None = ConfigOption,
) -> None:
    """Delete a stored key."""
    settings = settings_from(config)
    run(_remove_key(settings, key_id))


async def _remove_key(settings: Settings, key_id: str) -> None:
    async with open_database(settings) as db:
        await KeyStore(db, settings.ensure_secret()).remove(key_id)
    console.print(f"removed key {key_id}")


def fake_llm(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8765, help="Port to listen on (0 picks a free one)."),
    script: Path | None = typer.Option(None, help="JSON file: a list of replies and faults."),
) -> None:
    """Run the fake model provider (OpenAI, Anthropic and Gemini wire formats) for tests."""
    from shoal.llm.fakeserver import FakeLLMServer, load_script

    server = FakeLLMServer(host, port)
    if script is not None:
        try:
            entries = json.loads(script.read_text())
        except (OSError, ValueError) as exc:
            fail(f"cannot read script {script}: {exc}")
        load_script(entries if isinstance(entries, list) else [entries], server)

    async def serve() -> None:
        await server.start()
        console.print(f"fake provider on {server.url} since {datetime.now(UTC):%H:%M:%S} UTC")
        console.print(f"  OPENAI_BASE_URL={server.openai_base_url}")
        console.print(f"  ANTHROPIC_BASE_URL={server.anthropic_base_url}")
        console.print(f"  GOOGLE_GEMINI_BASE_URL={server.gemini_base_url}")
        console.print("  queue answers: POST /_fake/script; see requests: GET /_fake/requests")
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    try:
        run(serve())
    except KeyboardInterrupt:
        pass


def register(app: typer.Typer) -> None:
    """Add the model, key and fake-provider commands to the CLI."""
    app.add_typer(models_app, name="models")
    app.add_typer(keys_app, name="keys")
    app.command("fake-llm")(fake_llm)
