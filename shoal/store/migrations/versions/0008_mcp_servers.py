"""mcp servers: the MCP servers a house's owners registered, and their cached tool lists

Revision ID: 0008_mcp_servers
Revises: 0007_room_bindings
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import shoal.store.tables

revision = "0008_mcp_servers"
down_revision = "0007_room_bindings"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "mcp_servers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("house_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("headers", sa.Text(), nullable=True),
        sa.Column("header_names", JSON, nullable=False),
        sa.Column("transport", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("tools", JSON, nullable=False),
        sa.Column("tools_at", shoal.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("checked_at", shoal.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", shoal.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", shoal.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["house_id"], ["houses.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("house_id", "name"),
    )


def downgrade() -> None:
    op.drop_table("mcp_servers")
