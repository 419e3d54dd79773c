"""The agent registry: every version of every agent's config, who changed it, and an audit log.

Configs are JSON dicts here (the store knows nothing of the schema: `graphs/agent_edits.py`
validates them, and hands its checks in as callables so they run inside the write's
transaction, against the squad as it is at that moment).

Every write takes the one `registry_revision` row first (a no-op `UPDATE`): on Postgres the
row lock queues concurrent writers, and the next one reads the committed versions only once the
previous commits (READ COMMITTED takes a new snapshot per statement); on SQLite the seam's
`BEGIN IMMEDIATE` already serialises them. So two writers never both compute version N, and the
`(agent_id, version)` key is the backstop. The revision is a single number that every write
bumps: workers poll `revision()` (one primary-key read) and reload only when it moved.

YAML precedence (`sync`): a field takes the YAML's value only when the YAML changed it since the
last sync (`agent_synced` keeps the YAML config as last synced), so a live edit survives until
the YAML itself changes that field; `force=True` makes the YAML win everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from checkpointing.sql import Database, Tx, iso, utcnow

Config = dict[str, Any]
# (live configs of every agent, agent id, candidate config) → the config to store; raises to refuse
Check = Callable[[Mapping[str, Config], str, Config], Config]
# (live configs of every agent, agent id, patch) → the new config; raises to refuse
Apply = Callable[[Mapping[str, Config], str, Mapping[str, Any]], Config]


@dataclass(frozen=True)
class AgentVersion:
    """One saved config of one agent."""

    agent_id: str
    version: int
    config: Config
    source: str  # yaml | admin | rollback
    actor: str
    created_at: str
    diff: dict[str, list[Any]]  # field → [before, after]; {} for a first version

    def as_dict(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "version": self.version,
            "config": self.config,
            "source": self.source,
            "actor": self.actor,
            "created_at": self.created_at,
            "diff": self.diff,
        }


@dataclass(frozen=True)
class AuditEntry:
    at: str
    actor: str
    action: str  # seed | update | rollback | sync
    agent_id: str
    from_version: int | None
    to_version: int | None
    diff: dict[str, list[Any]]


@dataclass(frozen=True)
class SyncReport:
    """What `sync` did: agents added, agents given a new version, YAML changes a live edit kept
    out (agent → fields), and registry agents the YAML no longer has."""

    added: list[str]
    updated: list[str]
    kept_live: dict[str, list[str]]
    not_in_yaml: list[str]


def config_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Changed fields as `field: [before, after]`; nested mappings one level deep
    (`routing.examples`), so a diff names what an operator would name."""
    flat_before, flat_after = _flatten(before), _flatten(after)
    return {
        key: [flat_before.get(key), flat_after.get(key)]
        for key in sorted(flat_before.keys() | flat_after.keys())
        if flat_before.get(key) != flat_after.get(key)
    }


class AgentRegistry:
    """The registry's tables on the SQL seam (Postgres or SQLite)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def revision(self) -> int:
        """A number that changes with every write: compare it to know whether to reload."""
        row = await self.db.fetchone("SELECT revision FROM registry_revision WHERE id = 1")
        return int(row[0]) if row else 0

    async def seed(self, configs: Mapping[str, Config], actor: str = "system") -> list[str]:
        """Version 1 (source yaml) for every agent of `configs` the registry lacks — all of them
        on an empty registry; the ids added. Existing agents are left alone (that is `sync`)."""
        async with self.db.transaction() as tx:
            await _lock(tx)
            current = await _current(tx)
            missing = [agent_id for agent_id in configs if agent_id not in current]
            for agent_id in missing:
                await _insert(tx, agent_id, 1, configs[agent_id], "yaml", actor, {})
                await _audit(tx, actor, "seed", agent_id, None, 1, {})
                await _remember_synced(tx, agent_id, configs[agent_id])
            if missing:
                await _bump(tx)
        return missing

    async def current(self) -> dict[str, AgentVersion]:
        """Every agent's latest version."""
        async with self.db.transaction() as tx:
            return await _current(tx)

    async def versions(self, agent_id: str) -> list[AgentVersion]:
        """Every version of one agent, newest first ([] for an unknown agent)."""
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                f"SELECT {_COLUMNS} FROM agent_versions WHERE agent_id = %s ORDER BY version DESC",
                (agent_id,),
            )
        return [_version(row) for row in rows]

    async def propose(
        self,
        agent_id: str,
        patch: Mapping[str, Any],
        actor: str,
        *,
        apply: Apply,
        source: str = "admin",
    ) -> AgentVersion:
        """A new version of `agent_id` from `patch` (applied and checked by `apply` against the
        live squad, inside the transaction); the current version when nothing changed.
        KeyError for an agent the registry does not have."""
        async with self.db.transaction() as tx:
            await _lock(tx)
            current = await _current(tx)
            if agent_id not in current:
                raise KeyError(agent_id)
            config = apply(_configs(current), agent_id, patch)
            return await _write(tx, current[agent_id], config, source, actor, "update")

    async def rollback(
        self, agent_id: str, version: int, actor: str, *, check: Check | None = None
    ) -> AgentVersion:
        """A new version whose config is exactly version `version`'s. `check` may refuse it
        (the rest of the squad may have changed since). LookupError for a missing version."""
        async with self.db.transaction() as tx:
            await _lock(tx)
            current = await _current(tx)
            row = await tx.fetchone(
                f"SELECT {_COLUMNS} FROM agent_versions WHERE agent_id = %s AND version = %s",
                (agent_id, version),
            )
            if row is None or agent_id not in current:
                raise LookupError(f"agent {agent_id!r} has no version {version}")
            old = _version(row).config
            if check is not None:
                check(_configs(current), agent_id, old)  # refuses by raising; `old` is kept as is
            return await _write(tx, current[agent_id], old, "rollback", actor, "rollback")

    async def sync(
        self,
        yaml: Mapping[str, Config],
        actor: str,
        *,
        force: bool = False,
        check: Check | None = None,
    ) -> SyncReport:
        """Apply the YAML's changes as new versions (source yaml), in one transaction.

        A field takes the YAML's value when the YAML changed it since the last sync (or with
        `force`); otherwise the live value stays. `check` validates each merged config against
        the squad as merged so far; an exception rolls the whole sync back."""
        report = SyncReport([], [], {}, [])
        async with self.db.transaction() as tx:
            await _lock(tx)
            current = await _current(tx)
            live = _configs(current)
            synced = await _synced(tx)
            report.not_in_yaml.extend(sorted(set(current) - set(yaml)))
            for agent_id, new_yaml in yaml.items():
                if agent_id not in current:
                    if check is not None:
                        check({**live, agent_id: new_yaml}, agent_id, new_yaml)
                    await _insert(tx, agent_id, 1, new_yaml, "yaml", actor, {})
                    await _audit(tx, actor, "sync", agent_id, None, 1, {})
                    live[agent_id] = new_yaml
                    report.added.append(agent_id)
                else:
                    merged, kept = _merge(live[agent_id], new_yaml, synced.get(agent_id), force)
                    if kept:
                        report.kept_live[agent_id] = kept
                    if merged != live[agent_id]:
                        if check is not None:
                            merged = check(live, agent_id, merged)
                        await _write(tx, current[agent_id], merged, "yaml", actor, "sync")
                        live[agent_id] = merged
                        report.updated.append(agent_id)
                await _remember_synced(tx, agent_id, new_yaml)
            await _bump(tx)  # the synced copies changed even when no version did
        return report

    async def audit(self, limit: int = 100) -> list[AuditEntry]:
        """The latest changes, newest first."""
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT at, actor, action, agent_id, from_version, to_version, diff "
                "FROM agent_audit ORDER BY id DESC LIMIT %s",
                (limit,),
            )
        return [
            AuditEntry(iso(r[0]) or "", r[1], r[2], r[3], r[4], r[5], json.loads(r[6]))
            for r in rows
        ]


_COLUMNS = "agent_id, version, config, source, actor, created_at, diff"


def _version(row: tuple[Any, ...]) -> AgentVersion:
    return AgentVersion(
        agent_id=row[0],
        version=int(row[1]),
        config=json.loads(row[2]),
        source=row[3],
        actor=row[4],
        created_at=iso(row[5]) or "",
        diff=json.loads(row[6]),
    )


def _configs(current: Mapping[str, AgentVersion]) -> dict[str, Config]:
    return {agent_id: v.config for agent_id, v in current.items()}


async def _lock(tx: Tx) -> None:
    """Take the registry's one write lock: its revision row, held to the end of the transaction
    (a no-op update locks the row on Postgres; SQLite's BEGIN IMMEDIATE already holds the file)."""
    changed = await tx.execute("UPDATE registry_revision SET revision = revision WHERE id = 1")
    if changed != 1:
        raise RuntimeError("registry_revision has no row: run `esquadra migrate`")


async def _bump(tx: Tx) -> None:
    await tx.execute("UPDATE registry_revision SET revision = revision + 1 WHERE id = 1")


async def _current(tx: Tx) -> dict[str, AgentVersion]:
    rows = await tx.fetchall(
        f"SELECT {', '.join('v.' + c.strip() for c in _COLUMNS.split(','))} "
        "FROM agent_versions v JOIN (SELECT agent_id, MAX(version) AS top FROM agent_versions "
        "GROUP BY agent_id) latest ON v.agent_id = latest.agent_id AND v.version = latest.top "
        "ORDER BY v.agent_id"
    )
    return {row[0]: _version(row) for row in rows}


async def _synced(tx: Tx) -> dict[str, Config]:
    rows = await tx.fetchall("SELECT agent_id, config FROM agent_synced")
    return {row[0]: json.loads(row[1]) for row in rows}


async def _remember_synced(tx: Tx, agent_id: str, config: Config) -> None:
    await tx.execute(
        "INSERT INTO agent_synced (agent_id, config, synced_at) VALUES (%s, %s, %s) "
        "ON CONFLICT (agent_id) DO UPDATE SET config = excluded.config, "
        "synced_at = excluded.synced_at",
        (agent_id, _json(config), utcnow()),
    )


async def _write(
    tx: Tx,
    previous: AgentVersion,
    config: Config,
    source: str,
    actor: str,
    action: str,
) -> AgentVersion:
    """The next version of `previous`'s agent (revision bumped), unless `config` equals it
    (then `previous`, nothing written)."""
    if config == previous.config:
        return previous
    diff = config_diff(previous.config, config)
    version = previous.version + 1
    created = await _insert(tx, previous.agent_id, version, config, source, actor, diff)
    await _audit(tx, actor, action, previous.agent_id, previous.version, version, diff)
    await _bump(tx)
    return created


async def _insert(
    tx: Tx,
    agent_id: str,
    version: int,
    config: Config,
    source: str,
    actor: str,
    diff: dict[str, list[Any]],
) -> AgentVersion:
    now = utcnow()
    await tx.execute(
        f"INSERT INTO agent_versions ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (agent_id, version, _json(config), source, actor, now, _json(diff)),
    )
    return AgentVersion(agent_id, version, config, source, actor, now.isoformat(), diff)


async def _audit(
    tx: Tx,
    actor: str,
    action: str,
    agent_id: str,
    from_version: int | None,
    to_version: int | None,
    diff: dict[str, list[Any]],
) -> None:
    await tx.execute(
        "INSERT INTO agent_audit (at, actor, action, agent_id, from_version, to_version, diff) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (utcnow(), actor, action, agent_id, from_version, to_version, _json(diff)),
    )


def _merge(
    live: Config, yaml: Config, last_synced: Config | None, force: bool
) -> tuple[Config, list[str]]:
    """The live config with the YAML's changes since `last_synced`; the fields where the YAML
    differs from live but a live edit was kept."""
    flat_live, flat_yaml = _flatten(live), _flatten(yaml)
    flat_synced = _flatten(last_synced) if last_synced is not None else None
    merged = dict(flat_live)
    kept = []
    for key, value in flat_yaml.items():
        yaml_changed = flat_synced is None or flat_synced.get(key) != value
        if force or yaml_changed:
            merged[key] = value
        elif flat_live.get(key) != value:
            kept.append(key)
    return _unflatten(merged), kept


def _flatten(config: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            flat.update({f"{key}.{sub}": v for sub, v in value.items()})
        else:
            flat[key] = value
    return flat


def _unflatten(flat: Mapping[str, Any]) -> Config:
    config: Config = {}
    for key, value in flat.items():
        head, dot, sub = key.partition(".")
        if dot:
            config.setdefault(head, {})[sub] = value
        else:
            config[key] = value
    return config


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
