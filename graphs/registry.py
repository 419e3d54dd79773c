"""The registry seen from the squad: the store's operations with the schema's checks plugged in.

`checkpointing/registry.py` keeps versions as JSON and knows no schema; this module gives it the
YAML's configs (`seed`, `sync`) and validates every change (`propose`, `rollback`) with
`graphs/agent_edits.py`, inside the store's transaction. The admin API calls these.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from functools import partial
from typing import Any

from checkpointing.registry import AgentRegistry, AgentVersion, SyncReport
from graphs.agent_edits import agent_from_config, apply_patch, check_config, yaml_configs
from graphs.loader import LoadedSpec


async def seed(store: AgentRegistry, loaded: LoadedSpec) -> list[str]:
    """Give every YAML agent the registry lacks its version 1 (at every start); the ids added."""
    configs = await asyncio.to_thread(yaml_configs, loaded)
    return await store.seed(configs, actor="system:seed")


async def propose(
    store: AgentRegistry,
    loaded: LoadedSpec,
    agent_id: str,
    patch: Mapping[str, Any],
    actor: str,
) -> AgentVersion:
    """A new version from a patch; PatchError naming each bad field, KeyError for no agent."""
    return await store.propose(agent_id, patch, actor, apply=partial(apply_patch, loaded.spec))


async def rollback(
    store: AgentRegistry, loaded: LoadedSpec, agent_id: str, version: int, actor: str
) -> AgentVersion:
    """A new version equal to `version`; PatchError when today's squad cannot take it."""
    return await store.rollback(agent_id, version, actor, check=partial(check_config, loaded.spec))


async def sync(
    store: AgentRegistry, loaded: LoadedSpec, actor: str, *, force: bool = False
) -> SyncReport:
    """Apply the YAML's changes since the last sync (all of it with `force`) as new versions."""
    configs = await asyncio.to_thread(yaml_configs, loaded)
    return await store.sync(configs, actor, force=force, check=partial(check_config, loaded.spec))


def export_squad(
    loaded: LoadedSpec, configs: Mapping[str, Mapping[str, Any]]
) -> tuple[str, dict[str, str]]:
    """The squad YAML with the registry's agents, and the persona files it names (relative path
    → text). Sections other than `agents` are the loaded YAML's; fields at their default are
    left out. Agents the YAML lacks are appended after the YAML's own, in registry order."""
    import yaml

    spec = loaded.spec
    order = [a.id for a in spec.agents if a.id in configs]
    order += [agent_id for agent_id in configs if agent_id not in order]
    agents, prompts = [], {}
    for agent_id in order:
        agent = agent_from_config(configs[agent_id])
        agents.append(agent.model_dump(mode="json", exclude_defaults=True))
        prompts[agent.prompt] = str(configs[agent_id]["prompt_text"])
    data = spec.model_dump(mode="json", exclude_defaults=True, exclude={"agents"})
    data = {"version": spec.version, "models": data.pop("models"), "agents": agents, **data}
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
    return _EXPORT_HEADER + text, prompts


_EXPORT_HEADER = (
    "# Written by `esquadra export` from the agent registry (the live squad). Comments of the\n"
    "# original agents.yaml are not kept: review with `git diff` and commit what you want.\n"
)
