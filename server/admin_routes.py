"""The admin API (`/admin/api`, bearer `ADMIN_TOKEN`, checked by the app's one guard).

Agents with their status and today's figures (from `chat_turns`), live edits validated like
the YAML (`graphs/agent_edits.py`), versions, rollback and the audit log. Every change is a new
registry version naming who made it (`X-Admin-Actor`, default `admin`); after a write this
worker's snapshot is refreshed at once and the others are told over pub/sub (`LiveSquad
.announce`), with the revision poll as the fallback.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import datetime
from functools import cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath, HeaderParameter, JSONBody, Parameter

from checkpointing.registry import AgentRegistry, AgentVersion, AuditEntry
from checkpointing.turn_log import AgentFigures, TurnLog
from graphs import registry
from graphs.agent_edits import PATCHABLE, PatchError
from graphs.live import LiveSquad
from server.errors import ApiError
from server.schemas import ErrorBody, check_json_body, response_spec

log = logging.getLogger("esquadra.admin")

ACTOR_HEADER = "x-admin-actor"
DEFAULT_ACTOR = "admin"
# A name for the audit log: printable, one line, short.
_ACTOR = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")
# "Today" for the figures is the business's day, in Brazil.
DAY_ZONE = "America/Sao_Paulo"


class FieldErrorView(msgspec.Struct):
    field: str
    message: str


class PatchErrorBody(msgspec.Struct):
    code: str
    message: str
    errors: list[FieldErrorView]


class TodayView(msgspec.Struct):
    """One agent's figures since midnight in São Paulo, from the per-turn rows."""

    messages: int
    errors: int
    error_rate: float
    p50_latency_ms: int | None
    p95_latency_ms: int | None
    cost_usd: str
    cost_brl: str


class AgentSummary(msgspec.Struct):
    id: str
    name: str
    description: str
    active: bool
    fallback: bool
    model: str
    temperature: float
    max_tokens: int
    tools: list[str]
    version: int
    updated_at: str
    updated_by: str
    today: TodayView


class AgentDetail(AgentSummary):
    """The summary plus the whole current config (persona text and routing examples too)."""

    config: dict[str, Any]


class VersionView(msgspec.Struct):
    agent_id: str
    version: int
    source: str  # yaml | admin | rollback
    actor: str
    created_at: str
    diff: dict[str, list[Any]]  # field → [before, after]
    config: dict[str, Any]


class PatchReply(msgspec.Struct):
    changed: bool  # false: the patch matched the current config, nothing was written
    version: VersionView


class RollbackRequest(msgspec.Struct, forbid_unknown_fields=True):
    version: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]


class AuditView(msgspec.Struct):
    at: str
    actor: str
    action: str  # seed | update | rollback | sync
    agent_id: str
    from_version: int | None
    to_version: int | None
    diff: dict[str, list[Any]]


class TurnLogView(msgspec.Struct):
    queued: int
    written: int
    dropped: int
    failed: int


class WorkerStatus(msgspec.Struct):
    """The worker that answered: its process, the registry revision it serves, its links."""

    pid: int
    revision: int
    active: list[str]
    pubsub: bool  # subscribed to the registry's announcements now (else: the poll alone)
    turn_log: TurnLogView


_AUTH = {
    400: response_spec(ErrorBody, description="Invalid request: `{code, message}`."),
    401: response_spec(ErrorBody, description="`unauthorized`: missing or wrong admin token."),
    404: response_spec(
        ErrorBody,
        description="`admin_disabled` (no ADMIN_TOKEN set), `agent_not_found` or "
        "`version_not_found`.",
    ),
}
_INVALID = {
    400: response_spec(ErrorBody, description="Invalid request or `X-Admin-Actor`."),
    415: response_spec(ErrorBody, description="`unsupported_media_type`: send JSON."),
    422: response_spec(
        PatchErrorBody,
        description="`invalid_agent_config`: `errors` names each field and what is wrong "
        "(schema, meaning checks, or switching off the fallback or last active agent).",
    ),
}
_ACTOR_PARAM = HeaderParameter(
    name=ACTOR_HEADER,
    required=False,
    description="Who makes the change, for the audit log (default `admin`).",
)


@get(
    "/admin/api/agents",
    summary="Admin: every agent, its status and today's figures",
    responses=_AUTH,
)
async def list_agents(state: State) -> list[AgentSummary]:
    versions = await _store(state).current()
    figures = await _figures(state)
    fallback = _fallback(state)
    return [_summary(v, figures.get(a), fallback) for a, v in versions.items()]


@get(
    "/admin/api/agents/{agent_id:str}",
    summary="Admin: one agent, with its whole current config",
    responses=_AUTH,
)
async def get_agent(agent_id: FromPath[str], state: State) -> AgentDetail:
    current = await _current(state, agent_id)
    figures = await _figures(state)
    summary = _summary(current, figures.get(agent_id), _fallback(state))
    return AgentDetail(**msgspec.structs.asdict(summary), config=current.config)


@patch(
    "/admin/api/agents/{agent_id:str}",
    summary="Admin: change an agent live (a new version)",
    description="Any subset of: " + ", ".join(f"`{f}`" for f in PATCHABLE) + ". Checked by "
    "the YAML's schema and meaning checks; every problem comes back in `errors` "
    "`[{field, message}]` (422). The fallback agent and the last active agent cannot be "
    "switched off. Every worker serves the change within a second.",
    responses={**_AUTH, **_INVALID},
    before_request=check_json_body,
)
async def patch_agent(
    agent_id: FromPath[str],
    data: JSONBody[dict[str, Any]],
    state: State,
    actor: Annotated[str | None, _ACTOR_PARAM] = None,
) -> PatchReply:
    before = await _current(state, agent_id)
    try:
        version = await registry.propose(
            _store(state), _live(state).squad.loaded, agent_id, data, _actor(actor)
        )
    except KeyError:
        raise _no_agent(agent_id) from None
    except PatchError as exc:
        raise _refused(agent_id, exc) from None
    changed = version.version > before.version
    if changed:
        await _announce(state)
    return PatchReply(changed=changed, version=_version_view(version))


@get(
    "/admin/api/agents/{agent_id:str}/versions",
    summary="Admin: an agent's versions, newest first, with their diffs",
    responses=_AUTH,
)
async def list_versions(
    agent_id: FromPath[str],
    state: State,
    limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
) -> list[VersionView]:
    versions = await _store(state).versions(agent_id)
    if not versions:
        raise _no_agent(agent_id)
    return [_version_view(v) for v in versions[:limit]]


@post(
    "/admin/api/agents/{agent_id:str}/rollback",
    summary="Admin: make an old version current again (a new version equal to it)",
    responses={**_AUTH, **_INVALID},
    status_code=200,
    before_request=check_json_body,
)
async def rollback_agent(
    agent_id: FromPath[str],
    data: JSONBody[RollbackRequest],
    state: State,
    actor: Annotated[str | None, _ACTOR_PARAM] = None,
) -> PatchReply:
    before = await _current(state, agent_id)
    try:
        version = await registry.rollback(
            _store(state), _live(state).squad.loaded, agent_id, data.version, _actor(actor)
        )
    except LookupError:
        raise ApiError(
            404,
            "version_not_found",
            f"O agente '{agent_id}' não tem a versão {data.version}.",
        ) from None
    except PatchError as exc:
        raise _refused(agent_id, exc) from None
    changed = version.version > before.version
    if changed:
        await _announce(state)
    return PatchReply(changed=changed, version=_version_view(version))


@get(
    "/admin/api/audit", summary="Admin: the latest registry changes, newest first", responses=_AUTH
)
async def list_audit(
    state: State, limit: Annotated[int, Parameter(ge=1, le=1000)] = 100
) -> list[AuditView]:
    return [_audit_view(entry) for entry in await _store(state).audit(limit)]


@get(
    "/admin/api/status",
    summary="Admin: this worker's process, registry revision and links",
    responses=_AUTH,
)
async def worker_status(state: State) -> WorkerStatus:
    live = _live(state)
    turns: TurnLog = state.turn_log
    return WorkerStatus(
        pid=os.getpid(),
        revision=live.current.revision,
        active=sorted(live.current.active),
        pubsub=live.subscribed.is_set(),
        turn_log=TurnLogView(
            queued=turns.queued, written=turns.written, dropped=turns.dropped, failed=turns.failed
        ),
    )


ADMIN_ROUTES = [
    list_agents,
    get_agent,
    patch_agent,
    list_versions,
    rollback_agent,
    list_audit,
    worker_status,
]


def _live(state: State) -> LiveSquad:
    live: LiveSquad | None = state.chat.live
    assert live is not None, "the app always runs the live squad"
    return live


def _store(state: State) -> AgentRegistry:
    return _live(state).store


def _fallback(state: State) -> str:
    return _live(state).squad.loaded.spec.defaults.fallback_agent


async def _current(state: State, agent_id: str) -> AgentVersion:
    current = (await _store(state).current()).get(agent_id)
    if current is None:
        raise _no_agent(agent_id)
    return current


async def _announce(state: State) -> None:
    """This worker at once, the others over pub/sub; a failure here only delays them to the
    next poll (the write itself is committed)."""
    try:
        await _live(state).announce()
    except Exception:
        log.exception("registry changed but this worker could not refresh; the poll will retry")


async def _figures(state: State) -> dict[str, AgentFigures]:
    turns: TurnLog = state.turn_log
    await turns.flush()  # this worker's own latest turns count too
    return await turns.figures(start_of_day())


def start_of_day(now: datetime | None = None) -> datetime:
    """Midnight of today in São Paulo, as an aware datetime."""
    local = (now or datetime.now(_zone())).astimezone(_zone())
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


@cache
def _zone() -> ZoneInfo:
    return ZoneInfo(DAY_ZONE)


def _actor(value: str | None) -> str:
    if value is None:
        return DEFAULT_ACTOR
    name = value.strip()
    if not _ACTOR.match(name):
        raise ApiError(
            400,
            "invalid_actor",
            "Cabeçalho 'X-Admin-Actor' inválido: use um nome de até 100 caracteres, numa linha.",
        )
    return name


def _summary(version: AgentVersion, figures: AgentFigures | None, fallback: str) -> AgentSummary:
    config = version.config
    return AgentSummary(
        id=version.agent_id,
        name=str(config.get("name", version.agent_id)),
        description=str(config.get("description", "")),
        active=bool(config.get("active", True)),
        fallback=version.agent_id == fallback,
        model=str(config.get("model", "default")),
        temperature=float(config.get("temperature", 0.0)),
        max_tokens=int(config.get("max_tokens", 0)),
        tools=[str(tool) for tool in config.get("tools", [])],
        version=version.version,
        updated_at=version.created_at,
        updated_by=version.actor,
        today=_today(figures),
    )


def _today(figures: AgentFigures | None) -> TodayView:
    if figures is None:
        return TodayView(0, 0, 0.0, None, None, "0.000000", "0.000000")
    return TodayView(
        messages=figures.messages,
        errors=figures.errors,
        error_rate=round(figures.error_rate, 4),
        p50_latency_ms=figures.p50_latency_ms,
        p95_latency_ms=figures.p95_latency_ms,
        cost_usd=str(figures.cost_usd),
        cost_brl=str(figures.cost_brl),
    )


def _version_view(version: AgentVersion) -> VersionView:
    return VersionView(
        agent_id=version.agent_id,
        version=version.version,
        source=version.source,
        actor=version.actor,
        created_at=version.created_at,
        diff=version.diff,
        config=version.config,
    )


def _audit_view(entry: AuditEntry) -> AuditView:
    return AuditView(
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        agent_id=entry.agent_id,
        from_version=entry.from_version,
        to_version=entry.to_version,
        diff=entry.diff,
    )


def _no_agent(agent_id: str) -> ApiError:
    return ApiError(404, "agent_not_found", f"Agente '{agent_id}' não encontrado.")


def _refused(agent_id: str, exc: PatchError) -> ApiError:
    fields = ", ".join(sorted({e["field"] or "?" for e in exc.errors}))
    return ApiError(
        422,
        "invalid_agent_config",
        f"Alteração recusada para '{agent_id}' (campos: {fields}): {exc}",
        errors=exc.errors,
    )
