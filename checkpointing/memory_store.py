"""Long-term user memory: the `user_facts` table on Postgres (pgvector or bytea) or SQLite.

One live fact per (user, kind): a newer statement supersedes the older one (`superseded_at`), by
the time the owner said it, so a late redelivery never overrides what was said after it. Inserts
are idempotent on (user_id, source_message_hash, kind). Recall returns every live fact when there
are few (no embedding: the common case) and ranks by cosine similarity otherwise — in SQL with
pgvector when the `vector` extension can be created, else in numpy; both order by (similarity
desc, id asc), so they agree.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from checkpointing.sql import Database, Tx
from core.embeddings import DIM, EMBEDDING_THREAD, Embedder, shared_embedder
from core.facts import Fact

log = logging.getLogger("esquadra.memory")

# Past this many calls waiting for the embedding thread, recall does not queue the turn behind
# them: it gives the most recent facts instead (routing sheds its embedding the same way).
MAX_EMBEDDING_BACKLOG = 4


@dataclass(frozen=True)
class StoredFact:
    id: int
    kind: str
    text: str
    source_thread: str
    created_at: datetime


class FactEmbedder:
    """E5 embeddings computed on the embedding thread, never on the event loop."""

    def __init__(self, factory: Callable[[], Embedder] = shared_embedder) -> None:
        self._factory = factory
        self._embedder: Embedder | None = None

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Rows of L2-normalised float32 vectors, one per text."""
        return await EMBEDDING_THREAD.run(self._embed, list(texts))

    @staticmethod
    def backlog() -> int:
        """Calls waiting for the embedding thread (routing's and ours)."""
        return EMBEDDING_THREAD.backlog

    def _embed(self, texts: list[str]) -> np.ndarray:
        if self._embedder is None:  # loading the model is CPU work too: on the same thread
            self._embedder = self._factory()
        if len(texts) == 1:
            return self._embedder.embed_one(texts[0]).reshape(1, DIM)
        return self._embedder.embed(texts)


def rank(vectors: np.ndarray, ids: Sequence[int], query: np.ndarray, limit: int) -> list[int]:
    """Indices of the `limit` rows most similar to `query` (cosine), ties by id."""
    norms = np.linalg.norm(vectors, axis=1) * float(np.linalg.norm(query))
    scores = (vectors @ query) / np.where(norms == 0, 1.0, norms)
    order = sorted(range(len(ids)), key=lambda i: (-float(scores[i]), ids[i]))
    return order[:limit]


def utc(moment: datetime | str) -> datetime:
    """A timezone-aware UTC datetime from either backend's value."""
    value = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class FactStore:
    """`user_facts` through the SQL seam: every algorithm written once for both backends."""

    def __init__(self, db: Database, embedder: FactEmbedder, table: str = "user_facts") -> None:
        self.db = db
        self.embedder = embedder
        self.table = _checked_table(table)
        self.vectors = "numpy"  # "pgvector" when similarity is computed in Postgres

    async def detect_vectors(self) -> None:
        """Follow the table's embedding column: pgvector if it is a `vector`, else numpy."""
        if self.db.dialect != "postgres":
            return
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attname = 'embedding'",
                (self.table,),
            )
        self.vectors = "pgvector" if row and str(row[0]).startswith("vector") else "numpy"

    async def recall(self, user_id: str, text: str, limit: int) -> list[StoredFact]:
        """The `limit` live facts most relevant to `text`; all of them when there are few."""
        if limit <= 0:
            return []
        facts = await self.live(user_id, limit=limit + 1)
        if len(facts) <= limit:
            return facts
        if self.embedder.backlog() > MAX_EMBEDDING_BACKLOG:
            return (await self.live(user_id))[-limit:]
        query = (await self.embedder.embed([text]))[0]
        if self.vectors == "pgvector":
            return await self.ranked_in_sql(user_id, query, limit)
        return await self.ranked_in_numpy(user_id, query, limit)

    async def live(self, user_id: str, limit: int | None = None) -> list[StoredFact]:
        """The user's current facts, oldest first."""
        sql = (
            f"SELECT id, kind, text, source_thread, created_at FROM {self.table} "
            "WHERE user_id = %s AND superseded_at IS NULL ORDER BY created_at, id"
        )
        params: tuple[Any, ...] = (user_id,)
        if limit is not None:
            sql += " LIMIT %s"
            params = (user_id, limit)
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(sql, params)
        return [_fact(row) for row in rows]

    async def add(
        self,
        user_id: str,
        thread_id: str,
        message_hash: str,
        said_at: datetime,
        facts: Sequence[Fact],
        vectors: np.ndarray,
    ) -> int:
        """Store the facts of one message (idempotent); how many rows were new."""
        inserted = 0
        pgvector = self.vectors == "pgvector"
        value = "%s::vector" if pgvector else "%s"
        async with self.db.transaction() as tx:
            await _lock_users(tx, [user_id])
            for fact, vector in zip(facts, vectors, strict=True):
                row = await tx.fetchone(
                    f"INSERT INTO {self.table} (user_id, kind, text, embedding, "
                    "source_thread, source_message_hash, created_at) "
                    f"VALUES (%s, %s, %s, {value}, %s, %s, %s) "
                    "ON CONFLICT (user_id, source_message_hash, kind) DO NOTHING RETURNING id",
                    (
                        user_id,
                        fact.kind,
                        fact.text,
                        _vector_literal(vector) if pgvector else _blob(vector),
                        thread_id,
                        message_hash,
                        said_at,
                    ),
                )
                if row is None:
                    continue  # a redelivered message: already stored
                inserted += 1
                newer = await tx.fetchone(
                    f"SELECT min(created_at) FROM {self.table} "
                    "WHERE user_id = %s AND kind = %s AND id <> %s AND created_at > %s",
                    (user_id, fact.kind, row[0], said_at),
                )
                if newer and newer[0] is not None:  # said before something already stored
                    await tx.execute(
                        f"UPDATE {self.table} SET superseded_at = %s WHERE id = %s",
                        (newer[0], row[0]),
                    )
                else:
                    await tx.execute(
                        f"UPDATE {self.table} SET superseded_at = %s WHERE user_id = %s "
                        "AND kind = %s AND id <> %s AND superseded_at IS NULL",
                        (said_at, user_id, fact.kind, row[0]),
                    )
        return inserted

    async def delete(self, user_id: str, fact_id: int) -> bool:
        """Forget one fact; False when the user has no fact with this id."""
        async with self.db.transaction() as tx:
            deleted = await tx.execute(
                f"DELETE FROM {self.table} WHERE user_id = %s AND id = %s", (user_id, fact_id)
            )
        return deleted > 0

    async def merge_user(self, source: str, target: str) -> int:
        """Move `source`'s facts to `target` (channels linked); per kind the latest stays live."""
        if source == target:
            return 0
        async with self.db.transaction() as tx:
            await _lock_users(tx, sorted((source, target)))  # fixed order: no deadlock
            moved = await tx.execute(
                f"UPDATE {self.table} SET user_id = %s WHERE user_id = %s", (target, source)
            )
            await tx.execute(_KEEP_LATEST.format(table=self.table, p="%s"), (target,))
        return moved

    async def ranked_in_sql(self, user_id: str, query: np.ndarray, limit: int) -> list[StoredFact]:
        """pgvector's cosine distance (`<=>`), ties by id like `rank`."""
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                f"SELECT id, kind, text, source_thread, created_at FROM {self.table} "
                "WHERE user_id = %s AND superseded_at IS NULL "
                "ORDER BY embedding <=> %s::vector, id LIMIT %s",
                (user_id, _vector_literal(query), limit),
            )
        return [_fact(row) for row in rows]

    async def ranked_in_numpy(
        self, user_id: str, query: np.ndarray, limit: int
    ) -> list[StoredFact]:
        """Every live vector of the user, ranked here (works on either column type)."""
        cast = "::real[]" if self.vectors == "pgvector" else ""
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                f"SELECT id, kind, text, source_thread, created_at, embedding{cast} "
                f"FROM {self.table} WHERE user_id = %s AND superseded_at IS NULL",
                (user_id,),
            )
        if not rows:
            return []
        matrix = np.vstack([_as_vector(row[5]) for row in rows])
        return [_fact(rows[i]) for i in rank(matrix, [row[0] for row in rows], query, limit)]


async def _lock_users(tx: Tx, user_ids: Sequence[str]) -> None:
    """One writer per user at a time, so two messages cannot both stay live for a kind
    (SQLite's BEGIN IMMEDIATE already serialises every writer)."""
    if tx.dialect == "postgres":
        for user_id in user_ids:
            await tx.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"fact:{user_id}",))


_TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _checked_table(name: str) -> str:
    if not _TABLE_NAME.fullmatch(name):
        raise ValueError(f"invalid table name {name!r}")
    return name


# After a merge, per kind only the most recently said live fact stays live.
_KEEP_LATEST = (
    "UPDATE {table} SET superseded_at = (SELECT max(g.created_at) FROM {table} g "
    "WHERE g.user_id = {table}.user_id AND g.kind = {table}.kind AND g.superseded_at IS NULL) "
    "WHERE user_id = {p} AND superseded_at IS NULL AND created_at < ("
    "SELECT max(g.created_at) FROM {table} g WHERE g.user_id = {table}.user_id "
    "AND g.kind = {table}.kind AND g.superseded_at IS NULL)"
)


def _vector_literal(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.8g}" for x in vector.astype(np.float32)) + "]"


def _blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def _unblob(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<f4")


def _as_vector(value: Any) -> np.ndarray:
    if isinstance(value, bytes | bytearray | memoryview):
        return _unblob(bytes(value))
    return np.asarray(value, dtype=np.float32)


def _fact(row: Sequence[Any]) -> StoredFact:
    return StoredFact(
        id=int(row[0]),
        kind=row[1],
        text=row[2],
        source_thread=row[3],
        created_at=utc(row[4]),
    )
