"""LangGraph's checkpoint tables as this project counts and prunes them: the one module that
knows their names and columns.

LangGraph has a public pruning API, `BaseCheckpointSaver.aprune(thread_ids, strategy=...)`, but
in the installed versions (langgraph-checkpoint 4.3, -postgres 3.2, -sqlite 3.1) its only
keeping strategy is `"keep_latest"` (one checkpoint per namespace) and only the Postgres saver
implements it; `AsyncSqliteSaver` and `InMemorySaver` raise `NotImplementedError`. The project
keeps the newest K per thread (history for debugging and time travel) on Postgres and SQLite,
so the statements live here, written against the tables the savers' public `setup()` creates.
tests/test_retention.py creates them on a fresh Postgres database and SQLite file and fails,
naming table and column, when LangGraph's schema no longer has what `COLUMNS` lists, or when a
statement here names a column `COLUMNS` does not list.

The rest of the contract, held by the retention tests' behaviour (the thread reads back whole
after pruning):
- checkpoint ids sort by creation as text (uuid6): "newest K" is `ORDER BY checkpoint_id DESC`;
- Postgres: `checkpoints.checkpoint -> 'channel_versions'` maps each channel to the blob version
  the checkpoint uses, and versions sort as text in write order (`get_next_version` pads them);
- no graph of ours uses `DeltaChannel` (whose state would need the pruned ancestors' writes).

Statements run through the SQL seam (`checkpointing/sql.py`): the service's `stores.db` is on
the checkpointer's database (the Postgres pool, or the SQLite file the saver also opens). The
backend is the caller's to say (`checkpoint_tables(stores.backend, stores.db)`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from checkpointing.sql import Database

Backend = Literal["postgres", "sqlite"]

# Every column of LangGraph's tables that a statement below names.
COLUMNS: dict[Backend, dict[str, frozenset[str]]] = {
    "postgres": {
        "checkpoints": frozenset({"thread_id", "checkpoint_ns", "checkpoint_id", "checkpoint"}),
        "checkpoint_writes": frozenset({"thread_id", "checkpoint_ns", "checkpoint_id"}),
        "checkpoint_blobs": frozenset({"thread_id", "checkpoint_ns", "channel", "version"}),
    },
    "sqlite": {
        "checkpoints": frozenset({"thread_id", "checkpoint_ns", "checkpoint_id"}),
        "writes": frozenset({"thread_id", "checkpoint_ns", "checkpoint_id"}),
    },
}

# Postgres: rank per namespace, newest first; delete past K; then the writes of deleted
# checkpoints; then blobs no kept checkpoint references and not newer than the newest
# referenced version (a newer blob may belong to a checkpoint being written right now).
_PG_CHECKPOINTS = """
DELETE FROM checkpoints c USING (
    SELECT checkpoint_ns, checkpoint_id,
           row_number() OVER (PARTITION BY checkpoint_ns ORDER BY checkpoint_id DESC) AS rn
    FROM checkpoints WHERE thread_id = %s
) r
WHERE c.thread_id = %s AND c.checkpoint_ns = r.checkpoint_ns
  AND c.checkpoint_id = r.checkpoint_id AND r.rn > %s
"""
_PG_WRITES = """
DELETE FROM checkpoint_writes w
WHERE w.thread_id = %s AND w.checkpoint_id < (
    SELECT min(c.checkpoint_id) FROM checkpoints c
    WHERE c.thread_id = w.thread_id AND c.checkpoint_ns = w.checkpoint_ns)
"""
_PG_BLOBS = """
WITH referenced AS (
    SELECT c.checkpoint_ns, v.key AS channel, v.value AS version
    FROM checkpoints c, jsonb_each_text(c.checkpoint -> 'channel_versions') v
    WHERE c.thread_id = %s
), newest AS (
    SELECT checkpoint_ns, max(version) AS version FROM referenced GROUP BY checkpoint_ns
)
DELETE FROM checkpoint_blobs b USING newest n
WHERE b.thread_id = %s AND b.checkpoint_ns = n.checkpoint_ns
  AND b.version <= n.version
  AND NOT EXISTS (
    SELECT 1 FROM referenced r
    WHERE r.checkpoint_ns = b.checkpoint_ns AND r.channel = b.channel AND r.version = b.version)
"""

_SQLITE_CHECKPOINTS = """
DELETE FROM checkpoints WHERE rowid IN (
    SELECT rowid FROM (
        SELECT rowid, row_number() OVER (
            PARTITION BY checkpoint_ns ORDER BY checkpoint_id DESC) AS rn
        FROM checkpoints WHERE thread_id = %s)
    WHERE rn > %s)
"""
_SQLITE_WRITES = """
DELETE FROM writes
WHERE thread_id = %s AND checkpoint_id < (
    SELECT min(c.checkpoint_id) FROM checkpoints c
    WHERE c.thread_id = writes.thread_id AND c.checkpoint_ns = writes.checkpoint_ns)
"""

STATEMENTS: dict[Backend, tuple[str, ...]] = {
    "postgres": (_PG_CHECKPOINTS, _PG_WRITES, _PG_BLOBS),
    "sqlite": (_SQLITE_CHECKPOINTS, _SQLITE_WRITES),
}


@dataclass(frozen=True)
class Pruned:
    checkpoints: int
    writes: int
    blobs: int


class CheckpointTables:
    """LangGraph's tables of one backend, through a `Database` on the checkpointer's database."""

    def __init__(self, backend: Backend, db: Database) -> None:
        self.backend = backend
        self.db = db

    async def prune(self, thread_id: str, keep: int) -> Pruned:
        """Delete all but the newest `keep` checkpoints of the thread (and what only they used)."""
        async with self.db.transaction() as tx:
            if self.backend == "sqlite":
                checkpoints = await tx.execute(_SQLITE_CHECKPOINTS, (thread_id, keep))
                return Pruned(checkpoints, await tx.execute(_SQLITE_WRITES, (thread_id,)), 0)
            checkpoints = await tx.execute(_PG_CHECKPOINTS, (thread_id, thread_id, keep))
            writes = await tx.execute(_PG_WRITES, (thread_id,))
            blobs = await tx.execute(_PG_BLOBS, (thread_id, thread_id))
        return Pruned(checkpoints, writes, blobs)

    async def count(self, thread_id: str) -> dict[str, int]:
        """Rows of the thread in each table."""
        counts = {}
        async with self.db.transaction() as tx:
            for table in COLUMNS[self.backend]:
                sql = f"SELECT count(*) FROM {table} WHERE thread_id = %s"
                row = await tx.fetchone(sql, (thread_id,))
                counts[table] = int(row[0]) if row is not None else 0
        return counts


def checkpoint_tables(backend: str, db: Database) -> CheckpointTables | None:
    """The checkpoint tables on `db`, for a checkpointer opened as `backend` ("postgres",
    "sqlite"); `None` for anything else ("memory" keeps no tables)."""
    if backend == "postgres":
        return CheckpointTables("postgres", db)
    if backend == "sqlite":
        return CheckpointTables("sqlite", db)
    return None
