"""Alembic environment: Shoal always hands it a live connection."""

from alembic import context

import shoal.commands.tables  # noqa: F401  (registers each package's tables)
import shoal.crew.tables  # noqa: F401
import shoal.hooks.tables  # noqa: F401
import shoal.llm.tables  # noqa: F401
import shoal.memory.tables  # noqa: F401
import shoal.rooms.tables  # noqa: F401
import shoal.runs.tables  # noqa: F401
import shoal.runtime.session_tables  # noqa: F401
import shoal.scheduler.tables  # noqa: F401
import shoal.subagents.tables  # noqa: F401
import shoal.tools.mcp.tables  # noqa: F401
import shoal.webhooks.tables  # noqa: F401
from shoal.store.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `shoal migrate`, which supplies the connection")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
