"""Versioned migrations for our own tables (LangGraph migrates its tables itself).

Each migration has a number, a name and its statements per dialect, written once here; the
`schema_migrations` table records which ran. `migrate` runs at every start (and in
`esquadra migrate`) inside one transaction per migration, serialised across workers by a
transaction-level advisory lock on Postgres and by `BEGIN IMMEDIATE` on SQLite, so workers
starting together apply each migration once.

Migration 1 is the schema the code created before migrations existed, with `IF NOT EXISTS`
everywhere: a database created by that code adopts it unchanged (its rows stay), a new one
gets it fresh. Later migrations change it; never edit one that has shipped.

The embedded default's files from before the single SQLite file are adopted at start
(`adopt_legacy_checkpoints`, `import_legacy_tables`): no conversation, user or fact is left in
a file nothing reads.

Why not Alembic or yoyo: both drive a synchronous DB-API connection (Alembic through
SQLAlchemy), while every store here runs on the async seam in `checkpointing/sql.py`; the
runner below is the part of them we need, on the same connections as everything else.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkpointing.sql import Database, Tx, utcnow

log = logging.getLogger("esquadra.migrations")

Step = str | Callable[[Tx], Awaitable[None]]


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    postgres: tuple[Step, ...]
    sqlite: tuple[Step, ...]

    def steps(self, dialect: str) -> tuple[Step, ...]:
        return self.postgres if dialect == "postgres" else self.sqlite


async def _facts_table_postgres(tx: Tx) -> None:
    """pgvector's column type when the extension can be created here, else bytea."""
    column = "bytea"
    try:
        await tx.execute("SAVEPOINT vector_ext")
        await tx.execute("CREATE EXTENSION IF NOT EXISTS vector")
        await tx.execute("RELEASE SAVEPOINT vector_ext")
        column = f"vector({FACT_DIM})"
    except Exception as exc:  # not installed, or no privilege: facts ranked in numpy instead
        await tx.execute("ROLLBACK TO SAVEPOINT vector_ext")
        log.info("pgvector unavailable (%s): facts are ranked in numpy", str(exc).strip())
    await tx.execute(_FACTS.format(id="BIGSERIAL", ts="TIMESTAMPTZ", vector=column))


FACT_DIM = 384  # the E5 model's dimension (core/embeddings.DIM; a test keeps them equal)

_USERS = """CREATE TABLE IF NOT EXISTS users (
    user_id TEXT PRIMARY KEY,
    created_at {ts} NOT NULL,
    active_thread TEXT,
    merged_into TEXT
)"""
_IDENTITIES = """CREATE TABLE IF NOT EXISTS identities (
    channel TEXT NOT NULL,
    sender_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(user_id),
    linked_at {ts} NOT NULL,
    PRIMARY KEY (channel, sender_id)
)"""
_IDENTITIES_INDEX = "CREATE INDEX IF NOT EXISTS identities_user_id_idx ON identities(user_id)"
_FACTS = """CREATE TABLE IF NOT EXISTS user_facts (
    id {id} PRIMARY KEY,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    embedding {vector} NOT NULL,
    source_thread TEXT NOT NULL,
    source_message_hash TEXT NOT NULL,
    created_at {ts} NOT NULL,
    superseded_at {ts},
    UNIQUE (user_id, source_message_hash, kind))"""
_FACTS_INDEX = (
    "CREATE INDEX IF NOT EXISTS user_facts_live ON user_facts (user_id, kind) "
    "WHERE superseded_at IS NULL"
)
_FENCES = """CREATE TABLE IF NOT EXISTS thread_fences (
    thread_id TEXT PRIMARY KEY,
    token BIGINT NOT NULL,
    updated_at {ts} NOT NULL DEFAULT {now}
)"""
_PENDING = """CREATE TABLE IF NOT EXISTS pending_turns (
    thread_id TEXT PRIMARY KEY,
    turn_id TEXT NOT NULL,
    message TEXT NOT NULL,
    user_id TEXT,
    channel TEXT NOT NULL,
    started_at {ts} NOT NULL
)"""
# WhatsApp's message log (server/channels/whatsapp/message_log.py): one row per message in
# either direction, keyed by Meta's id. Inbound rows carry the processing `state` and its lease;
# outbound rows carry Meta's delivery `status`.
_WHATSAPP = """CREATE TABLE IF NOT EXISTS whatsapp_messages (
    wamid TEXT PRIMARY KEY,
    direction TEXT NOT NULL,
    phone_number_id TEXT NOT NULL,
    wa_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT,
    payload TEXT,
    sent_at {ts},
    received_at {ts} NOT NULL,
    state TEXT,
    lease_until {ts},
    attempts INTEGER NOT NULL DEFAULT 0,
    reply_to TEXT,
    status TEXT,
    status_at {ts},
    error TEXT,
    updated_at {ts} NOT NULL
)"""
# The recovery sweep: inbound messages not answered yet.
_WHATSAPP_OPEN = (
    "CREATE INDEX IF NOT EXISTS whatsapp_messages_open ON whatsapp_messages (received_at) "
    "WHERE direction = 'in' AND state IN ('received', 'processing')"
)
# The 24-hour window: a user's latest inbound message on a business number.
_WHATSAPP_WINDOW = (
    "CREATE INDEX IF NOT EXISTS whatsapp_messages_window "
    "ON whatsapp_messages (phone_number_id, wa_id, sent_at) WHERE direction = 'in'"
)

_PG = {"ts": "TIMESTAMPTZ", "now": "now()"}
_LITE = {"ts": "TEXT", "now": "CURRENT_TIMESTAMP"}

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "tables before migrations: users, identities, user_facts, thread_fences",
        postgres=(
            _USERS.format(**_PG),
            _IDENTITIES.format(**_PG),
            _IDENTITIES_INDEX,
            _facts_table_postgres,
            _FACTS_INDEX,
            _FENCES.format(**_PG),
        ),
        sqlite=(
            _USERS.format(**_LITE),
            _IDENTITIES.format(**_LITE),
            _IDENTITIES_INDEX,
            _FACTS.format(id="INTEGER", ts="TEXT", vector="BLOB").replace(
                "INTEGER PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT"
            ),
            _FACTS_INDEX,
            _FENCES.format(**_LITE),
        ),
    ),
    Migration(
        2,
        "pending_turns: the user's message of a turn still being answered",
        postgres=(_PENDING.format(**_PG),),
        sqlite=(_PENDING.format(**_LITE),),
    ),
    Migration(
        3,
        "whatsapp_messages: the WhatsApp message log (dedup, processing state, statuses)",
        postgres=(_WHATSAPP.format(**_PG), _WHATSAPP_OPEN, _WHATSAPP_WINDOW),
        sqlite=(_WHATSAPP.format(**_LITE), _WHATSAPP_OPEN, _WHATSAPP_WINDOW),
    ),
)

_AGENT_VERSIONS = """CREATE TABLE agent_versions (
    agent_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    config TEXT NOT NULL,
    source TEXT NOT NULL,
    actor TEXT NOT NULL,
    created_at {ts} NOT NULL,
    diff TEXT NOT NULL,
    PRIMARY KEY (agent_id, version)
)"""
_AGENT_AUDIT = """CREATE TABLE agent_audit (
    id {id} PRIMARY KEY,
    at {ts} NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    from_version INTEGER,
    to_version INTEGER,
    diff TEXT NOT NULL
)"""
_AGENT_SYNCED = """CREATE TABLE agent_synced (
    agent_id TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    synced_at {ts} NOT NULL
)"""
_REGISTRY_REVISION = (
    "CREATE TABLE registry_revision (id INTEGER PRIMARY KEY, revision BIGINT NOT NULL)"
)
_REGISTRY_STEPS = (
    _REGISTRY_REVISION,
    "INSERT INTO registry_revision (id, revision) VALUES (1, 0)",
    "CREATE INDEX agent_audit_at_idx ON agent_audit (at)",
)
REGISTRY_MIGRATION = Migration(
    4,
    "agent registry: agent_versions, agent_audit, agent_synced, registry_revision",
    postgres=(
        _AGENT_VERSIONS.format(**_PG),
        _AGENT_AUDIT.format(id="BIGSERIAL", **_PG),
        _AGENT_SYNCED.format(**_PG),
        *_REGISTRY_STEPS,
    ),
    sqlite=(
        _AGENT_VERSIONS.format(**_LITE),
        _AGENT_AUDIT.format(id="INTEGER", **_LITE).replace(
            "INTEGER PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT", 1
        ),
        _AGENT_SYNCED.format(**_LITE),
        *_REGISTRY_STEPS,
    ),
)
MIGRATIONS = (*MIGRATIONS, REGISTRY_MIGRATION)

# One row per answered (or failed) turn, written off the hot path by `checkpointing/turn_log.py`.
# Money as integer micro-units (the reply's cost is quantized to 0.000001): exact and summable
# in SQL on both dialects, where SQLite would sum a NUMERIC or TEXT column as a float.
_CHAT_TURNS = """CREATE TABLE chat_turns (
    id {id} PRIMARY KEY,
    at {ts} NOT NULL,
    thread_id TEXT NOT NULL,
    user_id TEXT,
    channel TEXT NOT NULL,
    agent_id TEXT,
    route_layer TEXT,
    model_profile TEXT,
    offline BOOLEAN NOT NULL,
    latency_ms INTEGER NOT NULL,
    ttft_ms INTEGER,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost_usd_micros BIGINT NOT NULL,
    cost_brl_micros BIGINT NOT NULL,
    error_code TEXT
)"""
_CHAT_TURNS_INDEXES = (
    "CREATE INDEX chat_turns_at_idx ON chat_turns (at)",
    "CREATE INDEX chat_turns_agent_at_idx ON chat_turns (agent_id, at)",
)
TURN_LOG_MIGRATION = Migration(
    5,
    "chat_turns: one row per turn (agent, layer, latency, usage, cost, error)",
    postgres=(_CHAT_TURNS.format(id="BIGSERIAL", **_PG), *_CHAT_TURNS_INDEXES),
    sqlite=(
        _CHAT_TURNS.format(id="INTEGER", **_LITE).replace(
            "INTEGER PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT", 1
        ),
        *_CHAT_TURNS_INDEXES,
    ),
)
MIGRATIONS = (*MIGRATIONS, TURN_LOG_MIGRATION)

# Leo's cash book: one row per income or expense, per user (not per thread: the owner's cash
# is the same on WhatsApp and on the web). Money in centavos (exact), the date as ISO text on
# both dialects (sortable, and a month is a prefix), where it came from in `source` (JSON).
_LEDGER_ENTRIES = """CREATE TABLE ledger_entries (
    id {id} PRIMARY KEY,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('income', 'expense')),
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    entry_date TEXT NOT NULL,
    category TEXT NOT NULL,
    description TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at {ts} NOT NULL
)"""
_LEDGER_INDEX = "CREATE INDEX ledger_entries_user_date ON ledger_entries (user_id, entry_date)"
LEDGER_MIGRATION = Migration(
    6,
    "ledger_entries: Leo's per-user cash book (centavos, ISO dates, source)",
    postgres=(_LEDGER_ENTRIES.format(id="BIGSERIAL", **_PG), _LEDGER_INDEX),
    sqlite=(
        _LEDGER_ENTRIES.format(id="INTEGER", **_LITE).replace(
            "INTEGER PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT", 1
        ),
        _LEDGER_INDEX,
    ),
)
MIGRATIONS = (*MIGRATIONS, LEDGER_MIGRATION)

# The cost ledger: one row per model call (the agent's reply, the llm routing layer's call),
# written with the turn's row by `checkpointing/turn_log.py`, read by `cost_ledger.py`.
# `day` is the São Paulo date as ISO text on both dialects (what budgets and `from`/`to` count);
# money in integer micro-units like `chat_turns`.
_MODEL_COSTS = """CREATE TABLE model_costs (
    id {id} PRIMARY KEY,
    at {ts} NOT NULL,
    day TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('agent', 'routing')),
    agent_id TEXT,
    thread_id TEXT,
    user_id TEXT,
    channel TEXT NOT NULL,
    model_profile TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost_usd_micros BIGINT NOT NULL,
    cost_brl_micros BIGINT NOT NULL
)"""
_MODEL_COSTS_INDEXES = (
    "CREATE INDEX model_costs_day_idx ON model_costs (day, agent_id)",
    "CREATE INDEX model_costs_thread_idx ON model_costs (thread_id)",
)
COST_LEDGER_MIGRATION = Migration(
    7,
    "model_costs: one priced row per model call (agent or routing), by São Paulo day",
    postgres=(_MODEL_COSTS.format(id="BIGSERIAL", **_PG), *_MODEL_COSTS_INDEXES),
    sqlite=(
        _MODEL_COSTS.format(id="INTEGER", **_LITE).replace(
            "INTEGER PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT", 1
        ),
        *_MODEL_COSTS_INDEXES,
    ),
)
MIGRATIONS = (*MIGRATIONS, COST_LEDGER_MIGRATION)

# [S7] alerts (checkpointing/alerts.py): one row per time a rule fired, until it resolves. At
# most one open row per rule (the partial unique index): the worker whose INSERT made the row
# is the one that notifies, so a notice goes out once even if two evaluators ever overlap.
# Values as decimal text (exact on both dialects; never summed in SQL).
_ALERTS = """CREATE TABLE alerts (
    id {id} PRIMARY KEY,
    rule_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    fired_at {ts} NOT NULL,
    resolved_at {ts},
    value TEXT NOT NULL,
    last_value TEXT NOT NULL,
    threshold TEXT NOT NULL,
    message TEXT NOT NULL,
    notice TEXT NOT NULL,
    notice_attempts INTEGER NOT NULL DEFAULT 0,
    notified_at {ts}
)"""
_ALERTS_INDEXES = (
    "CREATE UNIQUE INDEX alerts_one_open ON alerts (rule_id) WHERE resolved_at IS NULL",
    "CREATE INDEX alerts_fired_at_idx ON alerts (fired_at)",
)
ALERTS_MIGRATION = Migration(
    8,
    "alerts: fired and resolved alerts (value, threshold, notice)",
    postgres=(_ALERTS.format(id="BIGSERIAL", **_PG), *_ALERTS_INDEXES),
    sqlite=(
        _ALERTS.format(id="INTEGER", **_LITE).replace(
            "INTEGER PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT", 1
        ),
        *_ALERTS_INDEXES,
    ),
)
MIGRATIONS = (*MIGRATIONS, ALERTS_MIGRATION)

# What Leo needs to know about the owner's business (regime, state, employees) for the month's
# due dates, and one row per reminder sent: its primary key is what makes a reminder go out
# once per obligation and period, whichever worker got there first.
_BUSINESS_PROFILES = """CREATE TABLE business_profiles (
    user_id TEXT PRIMARY KEY,
    segment TEXT,
    regime TEXT NOT NULL CHECK (regime IN ('mei', 'simples')),
    state TEXT,
    employees BOOLEAN NOT NULL,
    reminders BOOLEAN NOT NULL,
    updated_at {ts} NOT NULL
)"""
_OBLIGATION_REMINDERS = """CREATE TABLE obligation_reminders (
    user_id TEXT NOT NULL,
    code TEXT NOT NULL,
    period TEXT NOT NULL,
    due_date TEXT NOT NULL,
    channel TEXT,
    outcome TEXT NOT NULL,
    sent_at {ts} NOT NULL,
    PRIMARY KEY (user_id, code, period)
)"""
BUSINESS_MIGRATION = Migration(
    9,
    "business_profiles and obligation_reminders: the owner's regime, and reminders sent once",
    postgres=(_BUSINESS_PROFILES.format(**_PG), _OBLIGATION_REMINDERS.format(**_PG)),
    sqlite=(_BUSINESS_PROFILES.format(**_LITE), _OBLIGATION_REMINDERS.format(**_LITE)),
)
MIGRATIONS = (*MIGRATIONS, BUSINESS_MIGRATION)

# The fence check of every fenced checkpoint write (checkpointing/fenced.py) in one statement:
# the shared lock, then the token read by a query of its own. A VOLATILE function's queries
# each take a fresh snapshot under READ COMMITTED, so the read sees the token of an `advance`
# that committed while this call waited for the lock, as two separate statements did.
_FENCE_HOLD = """CREATE OR REPLACE FUNCTION esquadra_fence_hold(p_thread TEXT, p_token BIGINT)
RETURNS BOOLEAN LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(hashtext('esquadra_fence'), hashtext(p_thread));
    RETURN EXISTS (SELECT 1 FROM thread_fences WHERE thread_id = p_thread AND token = p_token);
END
$$"""
FENCE_HOLD_MIGRATION = Migration(
    10,
    "esquadra_fence_hold(): a fenced write's lock and token check in one round trip",
    postgres=(_FENCE_HOLD,),
    sqlite=(),  # fences on SQLite live in the process (LocalFences)
)
MIGRATIONS = (*MIGRATIONS, FENCE_HOLD_MIGRATION)

_LEDGER = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at {ts} NOT NULL
)"""


async def applied_versions(db: Database) -> list[int]:
    """The migrations this database has, in order."""
    async with db.transaction() as tx:
        await tx.execute(_LEDGER.format(ts=_timestamp(db)))
        rows = await tx.fetchall("SELECT version FROM schema_migrations ORDER BY version")
    return [int(row[0]) for row in rows]


async def migrate(db: Database, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Apply every migration this database lacks; the versions applied now."""
    applied: list[int] = []
    for migration in migrations:
        async with db.transaction() as tx:
            if db.dialect == "postgres":
                # Held to the end of this transaction: a second worker waits here, then sees
                # the version recorded and skips it.
                await tx.execute("SELECT pg_advisory_xact_lock(hashtext('esquadra_migrations'))")
            await tx.execute(_LEDGER.format(ts=_timestamp(db)))
            done = await tx.fetchone(
                "SELECT 1 FROM schema_migrations WHERE version = %s", (migration.version,)
            )
            if done is not None:
                continue
            for step in migration.steps(db.dialect):
                if isinstance(step, str):
                    await tx.execute(step)
                else:
                    await step(tx)
            await tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                (migration.version, migration.name, utcnow()),
            )
            applied.append(migration.version)
            log.info("migration %d applied: %s", migration.version, migration.name)
    return applied


def _timestamp(db: Database) -> str:
    return _PG["ts"] if db.dialect == "postgres" else _LITE["ts"]


# Before one file, the embedded default kept three: conversations, identity and facts.
_LEGACY_CHECKPOINTS = "checkpoints.sqlite"
_LEGACY_TABLES = {
    "identity.sqlite": {
        "users": "user_id, created_at, active_thread, merged_into",
        "identities": "channel, sender_id, user_id, linked_at",
    },
    "memory.sqlite": {
        "user_facts": "id, user_id, kind, text, embedding, source_thread, source_message_hash, "
        "created_at, superseded_at",
    },
}


def adopt_legacy_checkpoints(data_dir: Path, target: Path) -> None:
    """A data dir from before the single file: its conversations file becomes the one file
    (renamed with its WAL, before anything opens it), so no conversation is left behind."""
    legacy = data_dir / _LEGACY_CHECKPOINTS
    if target.exists() or not legacy.exists():
        return
    for suffix in ("-wal", "-shm", ""):
        source = legacy.with_name(legacy.name + suffix)
        if source.exists():
            source.rename(target.with_name(target.name + suffix))


async def import_legacy_tables(db: Database, conn: Any, data_dir: Path) -> None:
    """Copy identity and facts from the old separate files into the one file, once; the old
    files are renamed `*.imported` (kept, not deleted)."""
    for name, tables in _LEGACY_TABLES.items():
        legacy = data_dir / name
        if not await asyncio.to_thread(legacy.exists):
            continue
        await conn.execute("ATTACH DATABASE ? AS legacy", (str(legacy),))
        try:
            async with db.transaction() as tx:
                for table, columns in tables.items():
                    found = await tx.fetchone(
                        "SELECT 1 FROM legacy.sqlite_master WHERE type = 'table' AND name = %s",
                        (table,),
                    )
                    if found is None:
                        continue
                    await tx.execute(
                        f"INSERT OR IGNORE INTO main.{table} ({columns}) "
                        f"SELECT {columns} FROM legacy.{table}"
                    )
        finally:
            await conn.execute("DETACH DATABASE legacy")
        await asyncio.to_thread(legacy.rename, legacy.with_name(name + ".imported"))
