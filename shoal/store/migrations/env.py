"""Alembic environment: Shoal always hands it a live connection."""

from alembic import context

import shoal.llm.tables  # noqa: F401  (registers the model layer's tables)
import shoal.runs.tables  # noqa: F401  (registers the runs tables)
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
