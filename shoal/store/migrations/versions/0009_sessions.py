"""sessions: agents' working memory (turns as the model saw them, compaction summaries)

Revision ID: 0009_sessions
Revises: 0008_mcp_servers
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import shoal.store.tables

revision = "0009_sessions"
down_revision = "0008_mcp_servers"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TIME = shoal.store.tables.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agent_sessions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("bot_id", sa.String(length=36), nullable=False),
        sa.Column("house_id", sa.String(length=36), nullable=False),
        sa.Column("room_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("synced_seq", sa.Integer(), nullable=False),
        sa.Column("next_index", sa.Integer(), nullable=False),
        sa.Column("turn_count", sa.Integer(), nullable=False),
        sa.Column("total_tokens", sa.Integer(), nullable=False),
        sa.Column("compactions", sa.Integer(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(["bot_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["house_id"], ["houses.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("bot_id", "key"),
    )
    op.create_index("ix_agent_sessions_room_id", "agent_sessions", ["room_id"])
    op.create_table(
        "session_turns",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("tool_calls", JSON, nullable=False),
        sa.Column("tool_call_id", sa.String(length=200), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("message_id", sa.String(length=36), nullable=True),
        sa.Column("activation_id", sa.String(length=36), nullable=True),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("covers_from", sa.Integer(), nullable=True),
        sa.Column("covers_to", sa.Integer(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["agent_sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "index"),
    )
    op.create_index("ix_session_turns_message", "session_turns", ["session_id", "message_id"])


def downgrade() -> None:
    op.drop_index("ix_session_turns_message", table_name="session_turns")
    op.drop_table("session_turns")
    op.drop_index("ix_agent_sessions_room_id", table_name="agent_sessions")
    op.drop_table("agent_sessions")
