"""`shoal house show|set`: a house's settings document, from the server's own terminal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from shoal.cli.common import (
    ConfigOption,
    ShoalGroup,
    console,
    house_by_ref,
    open_database,
    run,
    settings_from,
)
from shoal.config import Settings
from shoal.llm import Catalog, LLMConfig
from shoal.rooms.house_settings import change_settings, settings_document
from shoal.store.tables import House

house_app = typer.Typer(cls=ShoalGroup, no_args_is_help=True,
                        help="See and change a house's settings: models, relevance model, run "
                             "permission deciders, time zone, interaction budget, bindings.")
HouseOption = typer.Option(None, "--house", help="House slug or id (default: the default "
                                                 "house).")


@house_app.command("show")
def show(house: str | None = HouseOption, config: Path | None = ConfigOption) -> None:
    """Print the house's settings as JSON, defaults filled in."""
    settings = settings_from(config)
    run(_show(settings, house))


async def _show(settings: Settings, house_ref: str | None) -> None:
    async with open_database(settings) as db:
        house = await house_by_ref(db, house_ref)
        async with db.read() as session:
            view = await settings_document(session, house, settings.interaction_budget)
    _print(house, view)


@house_app.command("set")
def set_key(
    key: str = typer.Argument(..., help="The setting, e.g. timezone or relevance_model."),
    value: str = typer.Argument(..., help="Its value: JSON when it parses as JSON (5, "
                                "'{\"haiku\": {}}'), else text; null resets it."),
    house: str | None = HouseOption,
    config: Path | None = ConfigOption,
) -> None:
    """Change one setting, checked as the API checks it."""
    settings = settings_from(config)
    run(_set(settings, house, key, _parse(value)))


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


async def _set(settings: Settings, house_ref: str | None, key: str, value: Any) -> None:
    catalog = Catalog(LLMConfig.parse(settings.llm))
    async with open_database(settings) as db:
        found = await house_by_ref(db, house_ref)
        async with db.write() as session:
            house = await session.get(House, found.id)
            assert house is not None
            # From the server's terminal: no user made the change.
            await change_settings(session, house, {key: value}, catalog, None)
        async with db.read() as session:
            view = await settings_document(session, house, settings.interaction_budget)
    _print(house, view)


def _print(house: House, view: dict[str, Any]) -> None:
    console.print(f"Settings of {house.name} ({house.slug}):", markup=False, highlight=False)
    console.print_json(json.dumps(view))


def register(app: typer.Typer) -> None:
    """Add `shoal house` to the CLI."""
    app.add_typer(house_app, name="house")
