"""The squad graph compiled from YAML: routing to agents, offline answers, model requests."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from conftest import SQUAD_YAML, copy_squad
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from graphs.compiler import build_squad
from graphs.loader import load_spec
from graphs.state import SquadContext

TODAY = SquadContext(today=date(2026, 11, 30))
OWNER = SquadContext(today=date(2026, 11, 30), user_id="u-graph", thread_id="t1")


async def run_turn(
    graph: Any, thread: str, text: str, context: SquadContext = TODAY
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Send one message; return the custom events streamed and the final state values."""
    config = {"configurable": {"thread_id": thread}}
    events = [
        chunk
        async for chunk in graph.astream(
            {"messages": [HumanMessage(content=text)]},
            config,
            context=context,
            stream_mode="custom",
        )
    ]
    state = await graph.aget_state(config)
    return events, state.values


def offline_graph(path: Path = SQUAD_YAML) -> Any:
    squad = build_squad(load_spec(path), {})
    return squad.builder.compile(checkpointer=InMemorySaver())


async def test_leo_asks_before_recording_revenue_offline() -> None:
    events, state = await run_turn(
        offline_graph(), "t1", "Registre receita de R$ 1.500 da venda de hoje", OWNER
    )
    route = events[0]
    reply = "".join(e["text"] for e in events if e["type"] == "token")
    assert route["type"] == "route" and route["agent"] == "leo"
    assert reply == "Confirma receita de R$ 1.500,00 em 30/11/2026 (Vendas)? Responda sim ou não."
    assert state["messages"][-1].content == reply
    assert state["messages"][-1].name == "leo"
    assert state["turn"]["offline"] is True
    assert state["pending"]["args"]["amount"] == "1500.00"


async def test_offline_answer_without_a_tool_says_it_has_no_model() -> None:
    events, _ = await run_turn(offline_graph(), "t1", "como funciona o fluxo de caixa?")
    reply = "".join(e["text"] for e in events if e["type"] == "token")
    assert "sem modelo de linguagem" in reply


async def test_offline_reply_streams_in_many_tokens() -> None:
    events, _ = await run_turn(offline_graph(), "t1", "estagiária pode fazer 8h por dia?")
    tokens = [e for e in events if e["type"] == "token"]
    assert events[0]["agent"] == "lia"
    assert len(tokens) > 10


async def test_offline_answer_cites_the_knowledge_file_it_used() -> None:
    events, _ = await run_turn(offline_graph(), "t1", "quando vence o DAS do simples nacional?")
    reply = "".join(e["text"] for e in events if e["type"] == "token")
    assert events[0]["agent"] == "leo"
    assert "simples_nacional.md" in reply


async def test_explicit_mention_overrides_topic() -> None:
    events, _ = await run_turn(offline_graph(), "t1", "@lia registra 1.500 de venda hoje")
    assert events[0]["agent"] == "lia"
    assert events[0]["layer"] == "mention"


async def test_unclear_message_goes_to_max() -> None:
    events, _ = await run_turn(offline_graph(), "t1", "hmm")
    assert events[0]["agent"] == "max"


async def test_model_request_carries_agent_temperature_max_tokens_and_persona(
    online_env: dict[str, str], llm: Any
) -> None:
    squad = build_squad(load_spec(SQUAD_YAML), online_env)
    graph = squad.builder.compile(checkpointer=InMemorySaver())
    llm.configure(replies=["13º proporcional: R$ 1.166,67."])
    _, state = await run_turn(graph, "t1", "quanto é o 13º de quem ganha 2.000 e trabalhou 7 meses")
    request = llm.stub.requests[-1]
    lia = squad.loaded.spec.agent("lia")
    assert request["temperature"] == lia.temperature
    assert lia.max_tokens in (request.get("max_tokens"), request.get("max_completion_tokens"))
    assert request["model"] == "stub-1"
    assert request["stream"] is True
    system = request["messages"][0]
    assert system["role"] == "system" and "Lia" in system["content"]
    # The tool's verified fact reaches the model so it never has to invent the number.
    assert "R$ 1.166,67" in system["content"]
    assert state["messages"][-1].content == "13º proporcional: R$ 1.166,67."
    assert state["turn"]["offline"] is False
    assert state["turn"]["usage"]["output_tokens"] > 0


async def test_history_reaches_the_model_on_the_next_turn(
    online_env: dict[str, str], llm: Any
) -> None:
    graph = build_squad(load_spec(SQUAD_YAML), online_env).builder.compile(
        checkpointer=InMemorySaver()
    )
    await run_turn(graph, "t1", "tenho uma padaria em Campinas e quero vender mais no natal")
    await run_turn(graph, "t1", "me da ideia de post pro natal")
    contents = [m["content"] for m in llm.stub.requests[-1]["messages"]]
    assert "tenho uma padaria em Campinas e quero vender mais no natal" in contents


def test_a_fourth_agent_needs_only_yaml_and_a_prompt(tmp_path: Path) -> None:
    copy_squad(tmp_path)
    (tmp_path / "prompts" / "bia.md").write_text(
        "Você é a Bia, especialista em estoque e compras de pequenos negócios.", encoding="utf-8"
    )
    (tmp_path / "prompts" / "knowledge" / "bia").mkdir()
    (tmp_path / "prompts" / "knowledge" / "bia" / "estoque.md").write_text(
        "## Giro de estoque\nGiro de estoque é quantas vezes o estoque se renova no período.\n",
        encoding="utf-8",
    )
    yaml_text = (
        (tmp_path / "agents.yaml")
        .read_text(encoding="utf-8")
        .replace(
            "\nclassifier:",
            """
  - id: bia
    name: Bia
    description: Estoque e compras
    prompt: prompts/bia.md
    temperature: 0.3
    knowledge: [prompts/knowledge/bia/estoque.md]
    routing:
      keywords: [estoque, fornecedor de farinha, inventario]
      examples:
        - "como calculo o giro de estoque?"
        - "to com mto produto parado na prateleira"
        - "quando devo fazer pedido de reposicao?"
        - "faltou farinha de novo, como controlo o estoque"
        - "inventario do mes, como organizo?"

classifier:""",
            1,
        )
    )
    (tmp_path / "agents.yaml").write_text(yaml_text, encoding="utf-8")
    graph = offline_graph(tmp_path / "agents.yaml")
    assert "bia" in graph.get_graph().nodes

    import asyncio

    events, state = asyncio.run(run_turn(graph, "t1", "como anda o giro de estoque?"))
    assert events[0]["agent"] == "bia"
    assert "Giro de estoque" in "".join(e["text"] for e in events if e["type"] == "token")
    assert state["messages"][-1].name == "bia"


def test_inactive_agent_is_compiled_but_its_messages_go_to_the_fallback(tmp_path: Path) -> None:
    # Compiled, so the registry can switch it on live; the router's active set keeps it idle.
    config = copy_squad(tmp_path, {"- id: lia": "- id: lia\n    active: false"})
    graph = offline_graph(config)
    assert {"leo", "max", "lia"} <= set(graph.get_graph().nodes)

    import asyncio

    events, state = asyncio.run(run_turn(graph, "t1", "@lia quanto é o 13º da funcionária?"))
    assert events[0]["agent"] == "max"
    assert state["messages"][-1].name == "max"


@pytest.mark.parametrize("agent", ["leo", "max", "lia"])
def test_each_squad_agent_is_a_graph_node(agent: str) -> None:
    assert agent in offline_graph().get_graph().nodes
