"""The keyword side of search: SQLite FTS5 with BM25, PostgreSQL full-text ranking. Both
answer (document id, score) with higher is better; scores are comparable only within one
answer, so hybrid search scales them by the best."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, text

from shoal.memory.vectors import VectorFilter
from shoal.store.tables import UTCDateTime

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

MAX_TERMS = 16
POOL = 500  # SQLite: best matches ranked before the reader's filter applies
RANK_CAP = 5000  # PostgreSQL: matches ranked at most, the newest
_TERM = re.compile(r"[^\W_]+", re.UNICODE)


# Words that match nearly everything: left out of a query that has other words.
_STOP = frozenset("a an the to of in on at for and or but is are was were be been it this that "
                  "with as by from we i you he she they our your my me us do does did when what "
                  "where who how which why can could should would will there their".split())


def terms(query: str) -> list[str]:
    """The words of a query, lowercased, common words left out, at most MAX_TERMS."""
    words = list(dict.fromkeys(_TERM.findall(query.lower())))
    kept = [w for w in words if w not in _STOP]
    return (kept or words)[:MAX_TERMS]


def _visible(where: VectorFilter, params: dict[str, object]) -> str:
    """The SQL condition for what the filter allows on `d` (a search_docs row)."""
    params["rooms"] = sorted(where.rooms) or [""]
    parts = []
    if where.history:
        parts.append("(d.scope = 'history' AND d.room_id IN :rooms)")
    if where.notes:
        parts.append("d.scope = 'house'")
        if where.here is not None:
            params["here"] = where.here
            parts.append("(d.scope = 'room' AND d.room_id = :here)")
        if where.agent is not None:
            params["agent"] = where.agent
            parts.append("(d.scope = 'agent' AND d.agent_id = :agent AND d.room_id IN :rooms)")
    return "(" + (" OR ".join(parts) or "1 = 0") + ")"


def offered(where: VectorFilter, scope: str, room_id: str | None, agent_id: str | None
            ) -> bool:
    """Whether the filter offers a document of this scope, room and agent (what `_visible`
    says in SQL and the vector index in numpy)."""
    if scope == "history":
        return where.history and room_id in where.rooms
    if not where.notes:
        return False
    if scope == "house":
        return True
    if scope == "room":
        return where.here is not None and room_id == where.here
    return where.agent is not None and agent_id == where.agent and room_id in where.rooms


async def keyword_search(session: AsyncSession, house_id: str, query: str, where: VectorFilter,
                         limit: int, *, every_word: bool = False, sender_id: str | None = None,
                         before: tuple[datetime, int] | None = None,
                         newest_first: bool = False) -> list[tuple[int, float]]:
    """Documents matching the query's words (any of them; all with `every_word`), best
    first or newest first. `sender_id` keeps to one author's messages; `before` (a time and a
    document id, the last of the previous page) to those after it, newest first."""
    words = terms(query)
    if not words:
        return []
    sqlite = session.get_bind().dialect.name == "sqlite"
    params: dict[str, object] = {"house": house_id, "limit": limit}
    extra = ""
    if sender_id is not None:
        params["sender"] = sender_id
        extra += (" AND d.kind = 'message' AND EXISTS (SELECT 1 FROM messages m WHERE "
                  "m.id = d.item_id AND m.sender_id = :sender)")
    if before is not None:
        params["before"], params["before_doc"] = before
        extra += (" AND (d.created_at < :before OR (d.created_at = :before "
                  "AND d.id < :before_doc))")
    visible = _visible(where, params)
    newest = "d.created_at DESC, d.id DESC"
    if sqlite and not newest_first and sender_id is None and before is None:
        # The best `pool` matches of the whole index, filtered for the reader: a common
        # word's every match is ranked once, inside FTS5, and only the pool is joined. Only
        # when the filter left too few of a full pool is the whole match list filtered.
        params["match"] = (" AND " if every_word else " OR ").join(f'"{w}"' for w in words)
        params["pool"] = max(POOL, limit * 20)
        statement = text(
            "SELECT m.id, m.score, m.matches FROM (SELECT rowid AS id, -rank AS score, "
            "count(*) OVER () AS matches FROM search_fts WHERE search_fts MATCH :match "
            "ORDER BY rank LIMIT :pool) m JOIN search_docs d ON d.id = m.id "
            f"WHERE d.house_id = :house AND {visible} ORDER BY m.score DESC LIMIT :limit")
        rows = (await session.execute(
            statement.bindparams(bindparam("rooms", expanding=True)), params)).all()
        if len(rows) >= limit or (rows and rows[0][2] <= params.pop("pool")):
            return [(int(r[0]), float(r[1])) for r in rows]
        params.pop("pool", None)
    if sqlite:
        params["match"] = (" AND " if every_word else " OR ").join(f'"{w}"' for w in words)
        sql = ("SELECT d.id, -bm25(search_fts) AS score FROM search_fts "
               "JOIN search_docs d ON d.id = search_fts.rowid "
               f"WHERE search_fts MATCH :match AND d.house_id = :house AND {visible}{extra} "
               f"ORDER BY {newest if newest_first else 'bm25(search_fts)'} LIMIT :limit")
    else:
        params["match"] = (" & " if every_word else " | ").join(words)
        if newest_first:
            sql = ("SELECT d.id, 0.0 AS score "
                   "FROM search_docs d, to_tsquery('english', :match) q "
                   f"WHERE d.tsv @@ q AND d.house_id = :house AND {visible}{extra} "
                   f"ORDER BY {newest} LIMIT :limit")
        else:
            # Ranking reads every match's tsvector; a word matching most of the house is
            # ranked over its newest RANK_CAP matches only.
            params["cap"] = RANK_CAP
            sql = ("SELECT m.id, ts_rank_cd(m.tsv, q) AS score FROM (SELECT d.id, d.tsv "
                   "FROM search_docs d, to_tsquery('english', :match) q "
                   f"WHERE d.tsv @@ q AND d.house_id = :house AND {visible}{extra} "
                   "ORDER BY d.id DESC LIMIT :cap) m, to_tsquery('english', :match) q "
                   "ORDER BY score DESC, m.id DESC LIMIT :limit")
    statement = text(sql).bindparams(bindparam("rooms", expanding=True))
    if before is not None:
        statement = statement.bindparams(bindparam("before", type_=UTCDateTime()))
    rows = (await session.execute(statement, params)).all()
    return [(int(r[0]), float(r[1])) for r in rows]
