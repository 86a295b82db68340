"""interactions: one budget of agent wakes per message from a person, a hook or a schedule

Revision ID: 0006_interactions
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

import shoal.store.tables

revision = "0006_interactions"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "interactions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("house_id", sa.String(length=36), nullable=False),
        sa.Column("room_id", sa.String(length=36), nullable=False),
        sa.Column("origin_message_id", sa.String(length=36), nullable=False),
        sa.Column("budget", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("notice_posted", sa.Boolean(), nullable=False),
        sa.Column("created_at", shoal.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["house_id"], ["houses.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("origin_message_id"),
    )
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_interactions_created_at"), ["created_at"], unique=False
        )
    with op.batch_alter_table("activations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("interaction_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("activations", schema=None) as batch_op:
        batch_op.drop_column("interaction_id")
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_interactions_created_at"))
    op.drop_table("interactions")
