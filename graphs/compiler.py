"""Compile a validated `agents.yaml` into the squad's LangGraph `StateGraph`.

START → classify → one node per agent → END, and each YAML workflow's nodes beside them (an
agent hands its turn to a workflow; a thread with a question pending starts at its wait node).
Every agent is compiled, switched off or not: the router's active set (the YAML's, or the
live registry's per turn) decides who gets traffic.
The builder is returned uncompiled so the caller chooses the checkpointer (server:
Postgres/SQLite; Studio: its own; tests: memory).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph

from core.settings import Settings
from graphs.loader import LoadedSpec
from graphs.routing import build_router
from graphs.schema import Workflow
from graphs.state import SquadContext, SquadState
from llm.models import (
    Endpoint,
    build_chat_model,
    build_profile_model,
    build_routing_model,
    new_http_client,
    resolve_endpoint,
)
from nodes.agent import AgentRuntime, make_agent_node
from nodes.classify import make_classify_node
from nodes.knowledge import KnowledgeIndex
from nodes.routing import Router
from nodes.workflow import execute_node, make_workflow_nodes, wait_node
from tools.registry import get_tool

RESERVED_NODE_NAMES = frozenset({"classify", START, END})
DEFAULT_CACHE_DIR = Path(".esquadra") / "cache"


@dataclass(frozen=True)
class Squad:
    """The compiled-from-YAML squad: the graph builder and what each agent runs on."""

    loaded: LoadedSpec
    builder: StateGraph
    runtimes: dict[str, AgentRuntime]
    router: Router
    http_client: Any
    profile_models: dict[str, Any]  # profile → model, online profiles only (live registry)

    async def aclose(self) -> None:
        """Close the model connection pool."""
        await self.http_client.aclose()

    def is_offline(self, agent_id: str) -> bool:
        return self.runtimes[agent_id].model is None


def build_agent_runtime(
    loaded: LoadedSpec,
    agent_id: str,
    endpoints: Mapping[str, Endpoint],
    offline: bool,
    http_client: Any,
    fast_path: bool = True,
) -> AgentRuntime:
    """Read an agent's prompt and knowledge and give it a model unless offline."""
    spec = loaded.spec
    agent = spec.agent(agent_id)
    endpoint = endpoints[agent.model]
    model = None
    if endpoint.online and not offline:
        model = build_chat_model(
            agent, spec.models[agent.model], endpoint, http_client, fast_path=fast_path
        )
    colleagues = "\n".join(
        f"- {other.name} (@{other.id}): {other.description}"
        for other in spec.active_agents()
        if other.id != agent.id
    )
    return AgentRuntime(
        agent=agent,
        persona=loaded.read_text(agent.prompt),
        knowledge=KnowledgeIndex.from_files({f: loaded.read_text(f) for f in agent.knowledge}),
        model=model,
        colleagues=colleagues,
        offline_notice=spec.defaults.offline_notice,
        reply_timeout_s=spec.models[agent.model].timeout_s,
        history_messages=spec.sessions.prompt.history_messages,
        workflows={w.tool: w.id for w in spec.workflows if w.agent == agent.id},
    )


def build_squad(
    loaded: LoadedSpec,
    environ: Mapping[str, str],
    *,
    offline: bool = False,
    cache_dir: Path = DEFAULT_CACHE_DIR,
    fast_path: bool = True,
) -> Squad:
    """Everything the graph needs, from the YAML and the environment (model keys and URLs).

    Builds the routing head too (the routing examples are embedded once, cached in `cache_dir`).
    `fast_path=False` gives plain `ChatOpenAI` models on the SDK (`llm/models.py`).
    """
    spec = loaded.spec
    endpoints = {name: resolve_endpoint(p, environ) for name, p in spec.models.items()}
    http_client = new_http_client(fast_path)
    runtimes = {
        agent.id: build_agent_runtime(loaded, agent.id, endpoints, offline, http_client, fast_path)
        for agent in spec.agents
    }
    profile_models = {
        name: build_profile_model(spec.models[name], endpoint, http_client, fast_path=fast_path)
        for name, endpoint in endpoints.items()
        if endpoint.online and not offline
    }
    routing_models = {
        name: build_routing_model(spec.models[name], endpoint, http_client, fast_path=fast_path)
        for name, endpoint in endpoints.items()
        if endpoint.online and not offline
    }
    router = build_router(loaded, cache_dir=cache_dir, llm_models=routing_models)
    graph = build_squad_graph(
        router, runtimes, spec.sessions.prompt.routing_messages, spec.workflows
    )
    return Squad(loaded, graph, runtimes, router, http_client, profile_models)


def build_squad_graph(
    router: Router,
    runtimes: Mapping[str, AgentRuntime],
    routing_messages: int,
    workflows: Sequence[Workflow] = (),
) -> StateGraph:
    """The uncompiled graph: classify (reading `routing_messages` of history), then one agent;
    each workflow as its start, wait and execute nodes."""
    names = [*runtimes]
    for workflow in workflows:
        names += [workflow.id, wait_node(workflow.id), execute_node(workflow.id)]
    clash = RESERVED_NODE_NAMES.intersection(names)
    if clash or len(set(names)) != len(names):
        raise ValueError(f"node names clash: {sorted(clash) or names}")
    waits = tuple(wait_node(w.id) for w in workflows)
    builder = StateGraph(SquadState, context_schema=SquadContext)
    builder.add_node(
        "classify", make_classify_node(router, routing_messages), destinations=tuple(runtimes)
    )
    builder.add_conditional_edges(START, _entry, ("classify", *waits))
    for agent_id, runtime in runtimes.items():
        own = tuple(runtime.workflows.values())
        builder.add_node(agent_id, make_agent_node(runtime), destinations=(END, *own, *waits))
    for workflow in workflows:
        runtime = runtimes[workflow.agent]
        nodes = make_workflow_nodes(
            workflow, get_tool(workflow.tool), lambda rt=runtime: rt.model is None
        )
        wait, execute = wait_node(workflow.id), execute_node(workflow.id)
        builder.add_node(workflow.id, nodes.start, destinations=(END, wait, execute))
        builder.add_node(wait, nodes.wait, destinations=("classify", execute, END))
        builder.add_node(execute, nodes.execute)
        builder.add_edge(execute, END)
    return builder


def _entry(state: SquadState) -> str:
    """A thread whose last turn asked sim/não goes to that question first; others to the
    classifier. An expired question goes to its wait node too, which drops it."""
    pending = state.get("pending")
    if pending:
        return wait_node(pending["workflow"])
    return "classify"


def build_squad_for(loaded: LoadedSpec, settings: Settings) -> Squad:
    """`build_squad` with what the settings say: model variables, offline switch, cache."""
    return build_squad(
        loaded,
        settings.environ,
        offline=settings.offline,
        cache_dir=settings.embeddings_cache,
        fast_path=settings.model_fast_path,
    )
