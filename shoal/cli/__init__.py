"""The `shoal` command line."""

from __future__ import annotations

import typer

from shoal.cli import accounts, activations, data, hooks, house, mcp, server
from shoal.cli import commands as command_commands
from shoal.cli import models as model_commands
from shoal.cli.common import ShoalGroup

app = typer.Typer(
    cls=ShoalGroup,
    name="shoal",
    help="Shoal: people and AI agents working together in rooms.",
    no_args_is_help=True,
    add_completion=False,
)
server.register(app)
accounts.register(app)
activations.register(app)
hooks.register(app)
house.register(app)
model_commands.register(app)
command_commands.register(app)
mcp.register(app)
data.register(app)


def main() -> None:
    """Entry point of the `shoal` console script."""
    app()
