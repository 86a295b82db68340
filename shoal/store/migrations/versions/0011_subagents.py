"""subagents: children spawned by agents; an agent's children run beside it

Revision ID: 0011_subagents
Revises: 0010_memory
"""

import sqlalchemy as sa
from alembic import op

import shoal.store.tables

revision = "0011_subagents"
down_revision = "0010_memory"
branch_labels = None
depends_on = None

ONE_RUNNING = "status = 'running'"
ONE_RUNNING_BESIDE_CHILDREN = "status = 'running' AND trigger_kind <> 'subagent'"


def upgrade() -> None:
    when = shoal.store.tables.UTCDateTime(timezone=True)
    op.create_table(
        "subagents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("house_id", sa.String(length=36), nullable=False),
        sa.Column("room_id", sa.String(length=36), nullable=False),
        sa.Column("parent_bot_id", sa.String(length=36), nullable=False),
        sa.Column("parent_activation_id", sa.String(length=36), nullable=True),
        sa.Column("child_bot_id", sa.String(length=36), nullable=False),
        sa.Column("activation_id", sa.String(length=36), nullable=True),
        sa.Column("requested_by", sa.String(length=36), nullable=True),
        sa.Column("interaction_id", sa.String(length=36), nullable=True),
        sa.Column("task", sa.Text(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("cleanup", sa.String(length=8), nullable=False),
        sa.Column("announce", sa.String(length=8), nullable=False),
        sa.Column("run_timeout_seconds", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("announced_activation_id", sa.String(length=36), nullable=True),
        sa.Column("announced_message_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", when, nullable=False),
        sa.Column("started_at", when, nullable=True),
        sa.Column("deadline_at", when, nullable=True),
        sa.Column("ended_at", when, nullable=True),
        sa.Column("archived_at", when, nullable=True),
        sa.ForeignKeyConstraint(["house_id"], ["houses.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["parent_bot_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["child_bot_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("activation_id"),
    )
    with op.batch_alter_table("subagents", schema=None) as batch_op:
        batch_op.create_index("ix_subagents_room_created", ["room_id", "created_at"])
        batch_op.create_index("ix_subagents_parent_state", ["parent_bot_id", "state"])
        batch_op.create_index("ix_subagents_house_state", ["house_id", "state"])
        batch_op.create_index(batch_op.f("ix_subagents_parent_activation_id"),
                              ["parent_activation_id"])
    _one_running(ONE_RUNNING, ONE_RUNNING_BESIDE_CHILDREN)


def downgrade() -> None:
    _one_running(ONE_RUNNING_BESIDE_CHILDREN, ONE_RUNNING)
    op.drop_table("subagents")


def _one_running(old: str, new: str) -> None:
    with op.batch_alter_table("activations", schema=None) as batch_op:
        batch_op.drop_index("ux_activations_one_running", sqlite_where=sa.text(old),
                            postgresql_where=sa.text(old))
        batch_op.create_index("ux_activations_one_running", ["bot_id"], unique=True,
                              sqlite_where=sa.text(new), postgresql_where=sa.text(new))
