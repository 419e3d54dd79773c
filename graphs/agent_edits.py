"""Live edits of one agent: its registry config, and a patch checked exactly like the YAML.

An agent's config in the registry is the `Agent` model as pydantic dumps it (every field, JSON
types) plus `prompt_text`, the persona's text. A patch changes any subset of `PATCHABLE`; it is
validated by the same schema (`graphs.schema`) and the same meaning checks as `esquadra check`
(`graphs.loader.meaning_problems`, without YAML line marks), and every problem comes back as
`{field, message}` named by the patch's own field names.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from graphs.loader import LoadedSpec, Loc, describe_schema_error, meaning_problems
from graphs.schema import Agent, SquadSpec

PATCHABLE = (
    "active",
    "temperature",
    "max_tokens",
    "model",
    "prompt_text",
    "routing_examples",
    "tools",
)
PROMPT_TEXT_MAX = 50_000  # characters; a persona, not a knowledge base

FieldError = dict[str, str]  # {"field": ..., "message": ...}
AgentConfig = dict[str, Any]


class PatchError(ValueError):
    """The patch cannot be applied; `errors` names every field that is wrong and why."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(errors)
        self.errors = list(errors)

    def __str__(self) -> str:
        return "; ".join(f"{e['field']}: {e['message']}" for e in self.errors)


def agent_config(agent: Agent, prompt_text: str) -> AgentConfig:
    """The registry's form of an agent: every schema field as JSON, plus the persona's text."""
    return {**agent.model_dump(mode="json"), "prompt_text": prompt_text}


def yaml_configs(loaded: LoadedSpec) -> dict[str, AgentConfig]:
    """Every agent of the YAML in registry form, in YAML order (prompt files read here)."""
    return {
        agent.id: agent_config(agent, loaded.read_text(agent.prompt))
        for agent in loaded.spec.agents
    }


def agent_from_config(config: Mapping[str, Any]) -> Agent:
    """The schema object of a registry config (its `prompt_text` aside)."""
    return Agent.model_validate({k: v for k, v in config.items() if k != "prompt_text"})


def apply_patch(
    spec: SquadSpec,
    current: Mapping[str, Mapping[str, Any]],
    agent_id: str,
    patch: Mapping[str, Any],
) -> AgentConfig:
    """The agent's config after `patch`, checked against the whole live squad (`current`:
    agent id → config). KeyError for an unknown agent; PatchError listing every problem."""
    if agent_id not in current:
        raise KeyError(agent_id)
    errors = [_unknown_field(key) for key in patch if key not in PATCHABLE]
    config = copy.deepcopy(dict(current[agent_id]))
    for key, value in patch.items():
        if key == "routing_examples":
            config["routing"] = {**config.get("routing", {}), "examples": value}
        elif key in PATCHABLE:
            config[key] = value  # unknown keys are reported, never stored
    try:
        checked = check_config(spec, current, agent_id, config)
    except PatchError as exc:
        raise PatchError(errors + exc.errors) from None
    if errors:
        raise PatchError(errors)
    return checked


def check_config(
    spec: SquadSpec,
    current: Mapping[str, Mapping[str, Any]],
    agent_id: str,
    config: Mapping[str, Any],
) -> AgentConfig:
    """`config` as agent `agent_id` of the live squad, normalised (schema defaults and types);
    PatchError when the schema, the meaning checks or the traffic rules refuse it. Also run on
    a rollback's old config, since the rest of the squad may have changed since."""
    errors = _prompt_text_errors(config.get("prompt_text"))
    order = list(current)
    index = order.index(agent_id)  # KeyError-like ValueError: callers check membership
    agents = [
        {k: v for k, v in (config if a == agent_id else current[a]).items() if k != "prompt_text"}
        for a in order
    ]
    data = {**spec.model_dump(mode="json", exclude={"agents"}), "agents": agents}
    try:
        squad = SquadSpec.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            loc, message, hint = describe_schema_error(error, data)
            if loc[:2] == ("agents", index):
                errors.append(_field_error(loc[2:], message, hint))
        raise PatchError(errors or [{"field": "", "message": str(exc)}]) from None
    agent = squad.agents[index]
    errors += _traffic_errors(squad, current, agent)
    for loc, message, hint in meaning_problems(squad):
        if loc[:2] == ("agents", index):
            errors.append(_field_error(loc[2:], message, hint))
    if errors:
        raise PatchError(errors)
    return agent_config(agent, str(config["prompt_text"]))


def _traffic_errors(
    squad: SquadSpec, current: Mapping[str, Mapping[str, Any]], agent: Agent
) -> list[FieldError]:
    """Switching an agent off must leave the squad able to answer: the fallback stays on, and
    so does at least one agent."""
    if agent.active or not current.get(agent.id, {}).get("active", False):
        return []
    fallback = squad.defaults.fallback_agent
    if agent.id == fallback:
        message = (
            f"'{agent.id}' is the fallback agent (defaults.fallback_agent) and cannot be "
            "deactivated; choose another fallback in agents.yaml first"
        )
        return [{"field": "active", "message": message}]
    if not squad.active_agents():
        message = f"'{agent.id}' is the last active agent; activate another agent first"
        return [{"field": "active", "message": message}]
    return []


def _prompt_text_errors(value: Any) -> list[FieldError]:
    if not isinstance(value, str):
        return [{"field": "prompt_text", "message": "must be text"}]
    if not value.strip():
        return [{"field": "prompt_text", "message": "must not be empty"}]
    if len(value) > PROMPT_TEXT_MAX:
        message = f"must be at most {PROMPT_TEXT_MAX} characters, got {len(value)}"
        return [{"field": "prompt_text", "message": message}]
    return []


def _field_error(rest: Loc, message: str, hint: str | None) -> FieldError:
    if rest[:2] == ("routing", "examples"):
        field = "routing_examples"
    else:
        field = str(rest[0]) if rest else ""
    return {"field": field, "message": f"{message}; {hint}" if hint else message}


def _unknown_field(key: Any) -> FieldError:
    close = difflib.get_close_matches(str(key), PATCHABLE, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    message = f"unknown field '{key}'; {hint}fields that can change: {', '.join(PATCHABLE)}"
    return {"field": str(key), "message": message}
