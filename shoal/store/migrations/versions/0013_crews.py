"""crews: agents working one goal in a room, with a board, locks and a feed

Revision ID: 0013_crews
Revises: 0012_turns
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import shoal.store.tables

revision = "0013_crews"
down_revision = "0012_turns"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    when = shoal.store.tables.UTCDateTime(timezone=True)
    op.create_table(
        "crews",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("house_id", sa.String(length=36), nullable=False),
        sa.Column("room_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("goal", sa.Text(), nullable=False),
        sa.Column("lead_bot_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("agent_budget", sa.Integer(), nullable=False),
        sa.Column("refresh_seconds", sa.Integer(), nullable=False),
        sa.Column("lead_idle_seconds", sa.Integer(), nullable=False),
        sa.Column("heartbeat_halted", sa.Boolean(), nullable=False),
        sa.Column("unanswered_nudges", sa.Integer(), nullable=False),
        sa.Column("lead_active_at", when, nullable=True),
        sa.Column("model_config", JSON, nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", when, nullable=False),
        sa.Column("updated_at", when, nullable=False),
        sa.Column("ended_at", when, nullable=True),
        sa.Column("ended_by", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(["house_id"], ["houses.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["lead_bot_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_crews_house_id", "crews", ["house_id"])
    op.create_index("ix_crews_room_state", "crews", ["room_id", "state"])
    op.create_table(
        "crew_members",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("crew_id", sa.String(length=36), nullable=False),
        sa.Column("bot_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("subagent_id", sa.String(length=36), nullable=True),
        sa.Column("added_by", sa.String(length=36), nullable=True),
        sa.Column("joined_at", when, nullable=False),
        sa.Column("left_at", when, nullable=True),
        sa.ForeignKeyConstraint(["crew_id"], ["crews.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["bot_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("crew_id", "bot_id"),
    )
    op.create_index("ix_crew_members_bot", "crew_members", ["bot_id"])
    op.create_table(
        "crew_tasks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("crew_id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("assignee_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", when, nullable=False),
        sa.Column("updated_by", sa.String(length=36), nullable=True),
        sa.Column("updated_at", when, nullable=False),
        sa.ForeignKeyConstraint(["crew_id"], ["crews.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["assignee_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_crew_tasks_crew_status", "crew_tasks", ["crew_id", "status"])
    op.create_table(
        "crew_locks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("crew_id", sa.String(length=36), nullable=False),
        sa.Column("resource", sa.String(length=300), nullable=False),
        sa.Column("holder_id", sa.String(length=36), nullable=False),
        sa.Column("acquired_at", when, nullable=False),
        sa.ForeignKeyConstraint(["crew_id"], ["crews.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["holder_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("crew_id", "resource"),
    )
    op.create_table(
        "crew_activity",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("crew_id", sa.String(length=36), nullable=False),
        sa.Column("actor_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("at", when, nullable=False),
        sa.ForeignKeyConstraint(["crew_id"], ["crews.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_crew_activity_crew_at", "crew_activity", ["crew_id", "at"])
    with op.batch_alter_table("activations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("crew_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("crew_role", sa.String(length=40), nullable=True))
        batch_op.create_index("ix_activations_crew_id", ["crew_id"])


def downgrade() -> None:
    with op.batch_alter_table("activations", schema=None) as batch_op:
        batch_op.drop_index("ix_activations_crew_id")
        batch_op.drop_column("crew_role")
        batch_op.drop_column("crew_id")
    op.drop_table("crew_activity")
    op.drop_table("crew_locks")
    op.drop_table("crew_tasks")
    op.drop_table("crew_members")
    op.drop_table("crews")
