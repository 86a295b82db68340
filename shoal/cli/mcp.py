"""`shoal mcp add|list|remove|check`: a house's MCP servers from the operator's command line,
under the same rules as the API (the servers declared in `[mcp]` are listed and checked too)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import typer
from rich.table import Table

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
from shoal.crypto import SecretBox
from shoal.errors import InvalidInput
from shoal.tools.mcp import MCPService
from shoal.tools.mcp.manage import (
    ServerFields,
    all_views,
    create_server,
    find_server,
    reach,
    server_view,
)
from shoal.tools.mcp.tables import McpServer

mcp_app = typer.Typer(cls=ShoalGroup, no_args_is_help=True,
                      help="Manage a house's MCP servers, whose tools its agents use.")

HouseOption = typer.Option(None, "--house", help="House slug or id (default: the default "
                                                 "house).")


@asynccontextmanager
async def _service(settings: Settings) -> AsyncIterator[MCPService]:
    async with open_database(settings) as db:
        service = MCPService.from_settings(db, SecretBox(settings.ensure_secret()), settings)
        try:
            yield service
        finally:
            await service.close()


def _headers(pairs: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"--header {pair.split('=')[0]!r}: write it as Name=value")
        headers[name.strip()] = value
    return headers


@mcp_app.command("add")
def mcp_add(
    name: str,
    url: str,
    header: list[str] = typer.Option([], "--header", help="A header sent with every request "
                                     "(Name=value; repeat it). Stored encrypted."),
    transport: str | None = typer.Option(None, help="streamable_http or sse (default: "
                                                    "guessed)."),
    house: str | None = HouseOption,
    config: Path | None = ConfigOption,
) -> None:
    """Register the server NAME at URL, reach it and list its tools."""
    settings = settings_from(config)

    async def go() -> None:
        fields = ServerFields(name, url, _headers(header), True, transport)
        async with _service(settings) as service:
            target = await house_by_ref(service.db, house)
            async with service.db.write() as session:
                row = await create_server(session, target.id, fields, service, None)
            await reach(service, row, guess=transport is None)
            async with service.db.read() as session:
                saved = await session.get(McpServer, row.id)
        view = server_view(saved or row)
        console.print(f"Added the MCP server {view['name']} to {target.name}: {view['state']}"
                      + (f" ({view['error']})" if view["error"] else
                         f", {len(view['tools'])} tools: {', '.join(view['tools'])}"))

    run(go())


@mcp_app.command("list")
def mcp_list(house: str | None = HouseOption, config: Path | None = ConfigOption) -> None:
    """List the house's MCP servers and those the configuration gives it."""
    settings = settings_from(config)

    async def go() -> None:
        async with _service(settings) as service:
            target = await house_by_ref(service.db, house)
            views = await all_views(service, target.id)
        if not views:
            console.print(f"{target.name} has no MCP servers.")
            return
        table = Table("name", "source", "url", "transport", "on", "state", "tools", "headers")
        for view in views:
            state = view["state"] + (f": {view['error']}" if view["error"] else "")
            table.add_row(view["name"], view["source"], view["url"] or "", view["transport"],
                          "yes" if view["enabled"] else "no", state, ", ".join(view["tools"]),
                          ", ".join(view["header_names"]))
        console.print(table)

    run(go())


@mcp_app.command("remove")
def mcp_remove(name: str, house: str | None = HouseOption,
               config: Path | None = ConfigOption) -> None:
    """Remove an MCP server from the house."""
    settings = settings_from(config)

    async def go() -> None:
        async with open_database(settings) as db:
            target = await house_by_ref(db, house)
            async with db.write() as session:
                row = await find_server(session, target.id, name)
                await session.delete(row)
        console.print(f"Removed the MCP server {row.name} from {target.name}.")

    run(go())


@mcp_app.command("check")
def mcp_check(name: str, house: str | None = HouseOption,
              config: Path | None = ConfigOption) -> None:
    """Reach a server now: whether it answers, how many tools it lists, how long it took."""
    settings = settings_from(config)

    async def go() -> bool:
        async with _service(settings) as service:
            target = await house_by_ref(service.db, house)
            check = await service.check(await service.server(target.id, name))
        took = f"{check.seconds * 1000:.0f} ms"
        if check.reachable:
            console.print(f"{name}: reachable, {len(check.tools)} tools, {took}")
        else:
            console.print(f"{name}: unreachable after {took}: {check.error}")
        return check.reachable

    if not run(go()):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `shoal mcp` to the CLI."""
    app.add_typer(mcp_app, name="mcp")
