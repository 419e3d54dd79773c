"""Long-term user memory: the `user_facts` table on Postgres (pgvector or bytea) or SQLite.

One live fact per (user, kind): a newer statement supersedes the older one (`superseded_at`), by
the time the owner said it, so a late redelivery never overrides what was said after it. Inserts
are idempotent on (user_id, source_message_hash, kind). Recall returns every live fact when there
are few (no embedding: the common case) and ranks by cosine similarity otherwise — in SQL with
pgvector when the `vector` extension can be created, else in numpy; both order by (similarity
desc, id asc), so they agree.
"""

from __future__ import annotations

import asyncio
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from checkpointing.pg import postgres_pool
from core.embeddings import DIM, EMBEDDING_EXECUTOR, Embedder, shared_embedder
from core.facts import Fact

log = logging.getLogger("esquadra.memory")

VectorMode = Literal["auto", "numpy"]
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
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(EMBEDDING_EXECUTOR, self._embed, list(texts))

    @staticmethod
    def backlog() -> int:
        """Calls waiting for the embedding thread (routing's and ours)."""
        queue = getattr(EMBEDDING_EXECUTOR, "_work_queue", None)  # stdlib internals, read-only
        return queue.qsize() if queue is not None else 0

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


class FactStore(ABC):
    """The backend-independent half: recall policy and the supersede rule."""

    vectors: str = "numpy"  # "pgvector" when similarity is computed in Postgres

    def __init__(self, embedder: FactEmbedder) -> None:
        self.embedder = embedder

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
        return await self._ranked(user_id, query, limit)

    @abstractmethod
    async def live(self, user_id: str, limit: int | None = None) -> list[StoredFact]:
        """The user's current facts, oldest first."""

    @abstractmethod
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

    @abstractmethod
    async def delete(self, user_id: str, fact_id: int) -> bool:
        """Forget one fact; False when the user has no fact with this id."""

    @abstractmethod
    async def merge_user(self, source: str, target: str) -> int:
        """Move `source`'s facts to `target` (channels linked); per kind the latest stays live."""

    @abstractmethod
    async def _ranked(self, user_id: str, query: np.ndarray, limit: int) -> list[StoredFact]: ...

    @abstractmethod
    async def close(self) -> None: ...


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


class PostgresFactStore(FactStore):
    """`user_facts` on Postgres through an async psycopg pool (autocommit, no prepared plans)."""

    def __init__(self, pool: Any, embedder: FactEmbedder, table: str = "user_facts") -> None:
        super().__init__(embedder)
        self.pool = pool
        self.table = _checked_table(table)

    async def setup(self, vector: VectorMode = "auto") -> None:
        """Create the table (pgvector column when the extension can be created, else bytea)."""
        if vector == "auto" and await self._create_vector_extension():
            column = f"vector({DIM})"
        else:
            column = "bytea"
        async with self.pool.connection() as conn, conn.transaction():
            # Two workers starting together must not race on CREATE TABLE.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.table,))
            await conn.execute(
                f"""CREATE TABLE IF NOT EXISTS {self.table} (
                    id BIGSERIAL PRIMARY KEY,
                    user_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    text TEXT NOT NULL,
                    embedding {column} NOT NULL,
                    source_thread TEXT NOT NULL,
                    source_message_hash TEXT NOT NULL,
                    created_at TIMESTAMPTZ NOT NULL,
                    superseded_at TIMESTAMPTZ,
                    UNIQUE (user_id, source_message_hash, kind))"""
            )
            await conn.execute(
                f"CREATE INDEX IF NOT EXISTS {self.table}_live ON {self.table} "
                "(user_id, kind) WHERE superseded_at IS NULL"
            )
            row = await (
                await conn.execute(
                    "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = %s::regclass AND attname = 'embedding'",
                    (self.table,),
                )
            ).fetchone()
        # An existing table keeps its column type: the store follows the table, not the wish.
        self.vectors = "pgvector" if row and row[0].startswith("vector") else "numpy"

    async def _create_vector_extension(self) -> bool:
        try:
            async with self.pool.connection() as conn:
                await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            return True
        except Exception as exc:  # not installed, or no privilege: numpy ranking instead
            log.info("pgvector unavailable (%s): ranking facts in numpy", str(exc).strip())
            return False

    async def live(self, user_id: str, limit: int | None = None) -> list[StoredFact]:
        sql = (
            f"SELECT id, kind, text, source_thread, created_at FROM {self.table} "
            "WHERE user_id = %s AND superseded_at IS NULL ORDER BY created_at, id"
        )
        params: tuple[Any, ...] = (user_id,)
        if limit is not None:
            sql += " LIMIT %s"
            params = (user_id, limit)
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(sql, params)).fetchall()
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
        inserted = 0
        value = "%s::vector" if self.vectors == "pgvector" else "%s"
        async with self.pool.connection() as conn, conn.transaction():
            # One writer per user at a time, so two messages cannot both stay live for a kind.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"fact:{user_id}",))
            for fact, vector in zip(facts, vectors, strict=True):
                embedding = _vector_literal(vector) if self.vectors == "pgvector" else _blob(vector)
                row = await (
                    await conn.execute(
                        f"INSERT INTO {self.table} (user_id, kind, text, embedding, "
                        "source_thread, source_message_hash, created_at) "
                        f"VALUES (%s, %s, %s, {value}, %s, %s, %s) "
                        "ON CONFLICT (user_id, source_message_hash, kind) DO NOTHING RETURNING id",
                        (
                            user_id,
                            fact.kind,
                            fact.text,
                            embedding,
                            thread_id,
                            message_hash,
                            said_at,
                        ),
                    )
                ).fetchone()
                if row is None:
                    continue  # a redelivered message: already stored
                inserted += 1
                newer = await (
                    await conn.execute(
                        f"SELECT min(created_at) FROM {self.table} "
                        "WHERE user_id = %s AND kind = %s AND id <> %s AND created_at > %s",
                        (user_id, fact.kind, row[0], said_at),
                    )
                ).fetchone()
                if newer and newer[0] is not None:  # said before something already stored
                    await conn.execute(
                        f"UPDATE {self.table} SET superseded_at = %s WHERE id = %s",
                        (newer[0], row[0]),
                    )
                else:
                    await conn.execute(
                        f"UPDATE {self.table} SET superseded_at = %s WHERE user_id = %s "
                        "AND kind = %s AND id <> %s AND superseded_at IS NULL",
                        (said_at, user_id, fact.kind, row[0]),
                    )
        return inserted

    async def delete(self, user_id: str, fact_id: int) -> bool:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(
                f"DELETE FROM {self.table} WHERE user_id = %s AND id = %s", (user_id, fact_id)
            )
            return cursor.rowcount > 0

    async def merge_user(self, source: str, target: str) -> int:
        if source == target:
            return 0
        async with self.pool.connection() as conn, conn.transaction():
            for user_id in sorted((source, target)):  # a fixed order: no deadlock between merges
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"fact:{user_id}",)
                )
            moved = await conn.execute(
                f"UPDATE {self.table} SET user_id = %s WHERE user_id = %s", (target, source)
            )
            await conn.execute(_KEEP_LATEST.format(table=self.table, p="%s"), (target,))
            return moved.rowcount

    async def _ranked(self, user_id: str, query: np.ndarray, limit: int) -> list[StoredFact]:
        if self.vectors == "pgvector":
            return await self.ranked_in_sql(user_id, query, limit)
        return await self.ranked_in_numpy(user_id, query, limit)

    async def ranked_in_sql(self, user_id: str, query: np.ndarray, limit: int) -> list[StoredFact]:
        """pgvector's cosine distance (`<=>`), ties by id like `rank`."""
        async with self.pool.connection() as conn:
            rows = await (
                await conn.execute(
                    f"SELECT id, kind, text, source_thread, created_at FROM {self.table} "
                    "WHERE user_id = %s AND superseded_at IS NULL "
                    "ORDER BY embedding <=> %s::vector, id LIMIT %s",
                    (user_id, _vector_literal(query), limit),
                )
            ).fetchall()
        return [_fact(row) for row in rows]

    async def ranked_in_numpy(
        self, user_id: str, query: np.ndarray, limit: int
    ) -> list[StoredFact]:
        """Every live vector of the user, ranked here (works on either column type)."""
        cast = "::real[]" if self.vectors == "pgvector" else ""
        async with self.pool.connection() as conn:
            rows = await (
                await conn.execute(
                    f"SELECT id, kind, text, source_thread, created_at, embedding{cast} "
                    f"FROM {self.table} WHERE user_id = %s AND superseded_at IS NULL",
                    (user_id,),
                )
            ).fetchall()
        if not rows:
            return []
        matrix = np.vstack([_as_vector(row[5]) for row in rows])
        order = rank(matrix, [row[0] for row in rows], query, limit)
        return [_fact(rows[i]) for i in order]

    async def close(self) -> None:
        return None  # the pool belongs to whoever opened it


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


def _iso(moment: datetime) -> str:
    # A fixed-width UTC form, so SQLite's text comparison orders moments correctly.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


class SqliteFactStore(FactStore):
    """`user_facts` in SQLite (the embedded default): one connection, one writer at a time."""

    def __init__(self, conn: Any, embedder: FactEmbedder) -> None:
        super().__init__(embedder)
        self.conn = conn
        self._lock = asyncio.Lock()

    async def setup(self) -> None:
        async with self._lock:
            await self.conn.execute(
                """CREATE TABLE IF NOT EXISTS user_facts (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    user_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    text TEXT NOT NULL,
                    embedding BLOB NOT NULL,
                    source_thread TEXT NOT NULL,
                    source_message_hash TEXT NOT NULL,
                    created_at TEXT NOT NULL,
                    superseded_at TEXT,
                    UNIQUE (user_id, source_message_hash, kind))"""
            )
            await self.conn.execute(
                "CREATE INDEX IF NOT EXISTS user_facts_live ON user_facts (user_id, kind) "
                "WHERE superseded_at IS NULL"
            )

    async def live(self, user_id: str, limit: int | None = None) -> list[StoredFact]:
        sql = (
            "SELECT id, kind, text, source_thread, created_at FROM user_facts "
            "WHERE user_id = ? AND superseded_at IS NULL ORDER BY created_at, id"
        )
        params: tuple[Any, ...] = (user_id,)
        if limit is not None:
            sql += " LIMIT ?"
            params = (user_id, limit)
        async with self.conn.execute(sql, params) as cursor:
            rows = await cursor.fetchall()
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
        inserted = 0
        said = _iso(said_at)
        async with self._lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                for fact, vector in zip(facts, vectors, strict=True):
                    cursor = await self.conn.execute(
                        "INSERT INTO user_facts (user_id, kind, text, embedding, source_thread, "
                        "source_message_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT (user_id, source_message_hash, kind) DO NOTHING",
                        (
                            user_id,
                            fact.kind,
                            fact.text,
                            _blob(vector),
                            thread_id,
                            message_hash,
                            said,
                        ),
                    )
                    if cursor.rowcount != 1:
                        continue
                    inserted += 1
                    new_id = cursor.lastrowid
                    async with self.conn.execute(
                        "SELECT min(created_at) FROM user_facts "
                        "WHERE user_id = ? AND kind = ? AND id <> ? AND created_at > ?",
                        (user_id, fact.kind, new_id, said),
                    ) as found:
                        newer = await found.fetchone()
                    if newer and newer[0] is not None:
                        await self.conn.execute(
                            "UPDATE user_facts SET superseded_at = ? WHERE id = ?",
                            (newer[0], new_id),
                        )
                    else:
                        await self.conn.execute(
                            "UPDATE user_facts SET superseded_at = ? WHERE user_id = ? "
                            "AND kind = ? AND id <> ? AND superseded_at IS NULL",
                            (said, user_id, fact.kind, new_id),
                        )
                await self.conn.execute("COMMIT")
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
        return inserted

    async def delete(self, user_id: str, fact_id: int) -> bool:
        async with self._lock:
            cursor = await self.conn.execute(
                "DELETE FROM user_facts WHERE user_id = ? AND id = ?", (user_id, fact_id)
            )
            return cursor.rowcount > 0

    async def merge_user(self, source: str, target: str) -> int:
        if source == target:
            return 0
        async with self._lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                moved = await self.conn.execute(
                    "UPDATE user_facts SET user_id = ? WHERE user_id = ?", (target, source)
                )
                await self.conn.execute(_KEEP_LATEST.format(table="user_facts", p="?"), (target,))
                await self.conn.execute("COMMIT")
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            return moved.rowcount

    async def _ranked(self, user_id: str, query: np.ndarray, limit: int) -> list[StoredFact]:
        async with self.conn.execute(
            "SELECT id, kind, text, source_thread, created_at, embedding FROM user_facts "
            "WHERE user_id = ? AND superseded_at IS NULL",
            (user_id,),
        ) as cursor:
            rows = list(await cursor.fetchall())
        if not rows:
            return []
        matrix = np.vstack([_unblob(row[5]) for row in rows])
        return [_fact(rows[i]) for i in rank(matrix, [row[0] for row in rows], query, limit)]

    async def close(self) -> None:
        await self.conn.close()


@asynccontextmanager
async def open_fact_store(
    database_url: str | None,
    data_dir: Path,
    embedder: FactEmbedder | None = None,
    *,
    vector: VectorMode = "auto",
    table: str = "user_facts",
    pool_size: int = 4,
) -> AsyncIterator[FactStore]:
    """`postgresql://…` → Postgres; "memory" → SQLite in RAM; None → `data_dir/memory.sqlite`."""
    embedder = embedder or FactEmbedder()
    if database_url is not None and database_url != "memory":
        async with postgres_pool(database_url, max_size=pool_size) as pool:
            store = PostgresFactStore(pool, embedder, table)
            await store.setup(vector)
            yield store
        return
    import aiosqlite

    if database_url == "memory":
        path = ":memory:"
    else:
        await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
        path = str(data_dir / "memory.sqlite")
    conn = await aiosqlite.connect(path, isolation_level=None)
    store = SqliteFactStore(conn, embedder)
    try:
        if path != ":memory:":  # readers (the API) do not wait for the worker's writes
            await conn.execute("PRAGMA journal_mode=WAL")
        await store.setup()
        yield store
    finally:
        await store.close()
