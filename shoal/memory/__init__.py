"""Memory: notes agents and people keep, and hybrid search (keywords and meaning) over notes
and room history that never offers what the searcher could not read."""

from shoal.memory.indexer import Indexer
from shoal.memory.notes import (
    SCOPES,
    drop_keyed_note,
    find_note,
    forget_note,
    put_keyed_note,
    save_note,
)
from shoal.memory.people import PeopleSearch
from shoal.memory.scope import agent_filter, public_rooms, readable_rooms
from shoal.memory.search import Answer, Hit, MemorySearch, SessionSearch
from shoal.memory.tables import EmbedJob, MemoryNote, MemoryVector, SearchDoc, note_view
from shoal.memory.vectors import VectorFilter, VectorIndex

__all__ = [
    "SCOPES",
    "Answer",
    "EmbedJob",
    "Hit",
    "Indexer",
    "MemoryNote",
    "MemorySearch",
    "MemoryVector",
    "PeopleSearch",
    "SearchDoc",
    "SessionSearch",
    "VectorFilter",
    "VectorIndex",
    "agent_filter",
    "drop_keyed_note",
    "find_note",
    "forget_note",
    "note_view",
    "public_rooms",
    "put_keyed_note",
    "readable_rooms",
    "save_note",
]
