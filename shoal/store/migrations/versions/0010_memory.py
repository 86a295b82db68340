"""memory: notes, the search index over notes and room messages (FTS5 on SQLite, a tsvector
on PostgreSQL), stored vectors and the queue of documents waiting for one

Revision ID: 0010_memory
Revises: 0009_sessions
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import shoal.store.tables

revision = "0010_memory"
down_revision = "0009_sessions"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WHEN = shoal.store.tables.UTCDateTime(timezone=True)

# Room messages enter the index by trigger, whoever writes them; system notices are left out.
SQLITE = [
    "CREATE VIRTUAL TABLE search_fts USING fts5(body, content='search_docs', "
    "content_rowid='id', tokenize='porter unicode61')",
    """CREATE TRIGGER search_docs_ai AFTER INSERT ON search_docs BEGIN
         INSERT INTO search_fts(rowid, body) VALUES (new.id, new.body);
         INSERT OR REPLACE INTO embed_jobs(doc_id, attempts) VALUES (new.id, 0);
       END""",
    """CREATE TRIGGER search_docs_ad AFTER DELETE ON search_docs BEGIN
         INSERT INTO search_fts(search_fts, rowid, body) VALUES ('delete', old.id, old.body);
       END""",
    """CREATE TRIGGER search_docs_au AFTER UPDATE OF body ON search_docs BEGIN
         INSERT INTO search_fts(search_fts, rowid, body) VALUES ('delete', old.id, old.body);
         INSERT INTO search_fts(rowid, body) VALUES (new.id, new.body);
         DELETE FROM memory_vectors WHERE doc_id = new.id;
         INSERT OR REPLACE INTO embed_jobs(doc_id, attempts) VALUES (new.id, 0);
       END""",
    """CREATE TRIGGER messages_index_ai AFTER INSERT ON messages
       WHEN new.type <> 'system' AND new.deleted_at IS NULL BEGIN
         INSERT INTO search_docs(kind, item_id, house_id, room_id, scope, body, created_at)
         SELECT 'message', new.id, rooms.house_id, new.room_id, 'history', new.content,
                new.created_at
         FROM rooms WHERE rooms.id = new.room_id;
       END""",
    """CREATE TRIGGER messages_index_au AFTER UPDATE OF content, deleted_at ON messages BEGIN
         DELETE FROM search_docs WHERE kind = 'message' AND item_id = new.id
           AND new.deleted_at IS NOT NULL;
         UPDATE search_docs SET body = new.content WHERE kind = 'message' AND item_id = new.id
           AND new.deleted_at IS NULL AND new.content <> old.content;
       END""",
    """CREATE TRIGGER messages_index_ad AFTER DELETE ON messages BEGIN
         DELETE FROM search_docs WHERE kind = 'message' AND item_id = old.id;
       END""",
]
POSTGRES = [
    "ALTER TABLE search_docs ADD COLUMN tsv tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english', body)) STORED",
    "CREATE INDEX ix_search_docs_tsv ON search_docs USING gin (tsv)",
    """CREATE FUNCTION shoal_search_doc_changed() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'UPDATE' THEN DELETE FROM memory_vectors WHERE doc_id = NEW.id; END IF;
         INSERT INTO embed_jobs(doc_id, attempts) VALUES (NEW.id, 0)
           ON CONFLICT (doc_id) DO UPDATE SET attempts = 0, lease_owner = NULL,
             lease_expires_at = NULL, available_at = NULL;
         RETURN NULL;
       END $$""",
    "CREATE TRIGGER search_docs_changed AFTER INSERT OR UPDATE OF body ON search_docs "
    "FOR EACH ROW EXECUTE FUNCTION shoal_search_doc_changed()",
    """CREATE FUNCTION shoal_index_message() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'INSERT' THEN
           IF NEW.type <> 'system' AND NEW.deleted_at IS NULL THEN
             INSERT INTO search_docs(kind, item_id, house_id, room_id, scope, body, created_at)
             SELECT 'message', NEW.id, r.house_id, NEW.room_id, 'history', NEW.content,
                    NEW.created_at
             FROM rooms r WHERE r.id = NEW.room_id;
           END IF;
         ELSIF TG_OP = 'DELETE' THEN
           DELETE FROM search_docs WHERE kind = 'message' AND item_id = OLD.id;
         ELSIF NEW.deleted_at IS NOT NULL THEN
           DELETE FROM search_docs WHERE kind = 'message' AND item_id = NEW.id;
         ELSIF NEW.content IS DISTINCT FROM OLD.content THEN
           UPDATE search_docs SET body = NEW.content
           WHERE kind = 'message' AND item_id = NEW.id;
         END IF;
         RETURN NULL;
       END $$""",
    "CREATE TRIGGER messages_index AFTER INSERT OR UPDATE OF content, deleted_at OR DELETE "
    "ON messages FOR EACH ROW EXECUTE FUNCTION shoal_index_message()",
]
BACKFILL = [
    # Existing /save notes become room-scoped memory notes under their key.
    """INSERT INTO memory_notes(id, house_id, room_id, agent_id, scope, text, tags, note_key,
                                created_by, created_at, updated_at)
       SELECT {new_id}, rooms.house_id, notes.room_id, NULL, 'room',
              notes.key || ': ' || notes.value, '[]', notes.key, notes.updated_by,
              notes.updated_at, notes.updated_at
       FROM notes JOIN rooms ON rooms.id = notes.room_id""",
    """INSERT INTO search_docs(kind, item_id, house_id, room_id, scope, body, created_at)
       SELECT 'note', id, house_id, room_id, 'room', text, created_at FROM memory_notes""",
    """INSERT INTO search_docs(kind, item_id, house_id, room_id, scope, body, created_at)
       SELECT 'message', messages.id, rooms.house_id, messages.room_id, 'history',
              messages.content, messages.created_at
       FROM messages JOIN rooms ON rooms.id = messages.room_id
       WHERE messages.type <> 'system' AND messages.deleted_at IS NULL""",
]


def upgrade() -> None:
    op.create_table(
        "memory_notes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("house_id", sa.String(length=36), nullable=False),
        sa.Column("room_id", sa.String(length=36), nullable=True),
        sa.Column("agent_id", sa.String(length=36), nullable=True),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("note_key", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["house_id"], ["houses.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("room_id", "note_key"),
    )
    op.create_index("ix_memory_notes_house_agent", "memory_notes", ["house_id", "agent_id"])
    op.create_table(
        "search_docs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("item_id", sa.String(length=36), nullable=False),
        sa.Column("house_id", sa.String(length=36), nullable=False),
        sa.Column("room_id", sa.String(length=36), nullable=True),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("agent_id", sa.String(length=36), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["house_id"], ["houses.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "item_id"),
    )
    op.create_index("ix_search_docs_house_room", "search_docs", ["house_id", "room_id", "id"])
    op.create_table(
        "memory_vectors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("doc_id", sa.Integer(), nullable=False),
        sa.Column("house_id", sa.String(length=36), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["doc_id"], ["search_docs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("doc_id"),
    )
    op.create_index("ix_memory_vectors_house_id", "memory_vectors", ["house_id", "id"])
    op.create_table(
        "embed_jobs",
        sa.Column("doc_id", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", WHEN, nullable=True),
        sa.Column("available_at", WHEN, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["doc_id"], ["search_docs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("doc_id"),
    )
    for statement in SQLITE if op.get_bind().dialect.name == "sqlite" else POSTGRES:
        op.execute(statement)
    new_id = ("lower(hex(randomblob(16)))" if op.get_bind().dialect.name == "sqlite"
              else "md5(random()::text || clock_timestamp()::text)")
    for statement in BACKFILL:
        op.execute(statement.replace("{new_id}", new_id))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("messages_index_ai", "messages_index_au", "messages_index_ad",
                        "search_docs_ai", "search_docs_ad", "search_docs_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS search_fts")
    else:
        op.execute("DROP TRIGGER IF EXISTS messages_index ON messages")
        op.execute("DROP FUNCTION IF EXISTS shoal_index_message()")
        op.execute("DROP TRIGGER IF EXISTS search_docs_changed ON search_docs")
        op.execute("DROP FUNCTION IF EXISTS shoal_search_doc_changed()")
    op.drop_table("embed_jobs")
    op.drop_table("memory_vectors")
    op.drop_index("ix_search_docs_house_room", table_name="search_docs")
    op.drop_table("search_docs")
    op.drop_index("ix_memory_notes_house_agent", table_name="memory_notes")
    op.drop_table("memory_notes")
