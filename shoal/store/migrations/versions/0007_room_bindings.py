"""room bindings: the agent that answers every person's message in a room unmentioned

Revision ID: 0007_room_bindings
Revises: 0006_interactions
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_room_bindings"
down_revision = "0006_interactions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rooms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bound_agent_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    # Not in batch mode: on SQLite that would copy and drop the rooms table, and dropping it
    # cascades to every room's messages. SQLite 3.35+ drops a column in place.
    op.drop_column("rooms", "bound_agent_id")
