"""Routing as the owner experiences it: mentions win, follow-ups stay, inactive agents get nothing,
and the dev set stays above the committed baseline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT, SQUAD_YAML, copy_squad

from graphs.loader import load_spec
from graphs.routing import build_router, read_routing_data
from graphs.routing_eval import evaluate
from nodes.routing import HistoryTurn, Router

DATA = REPO_ROOT / "tests" / "data"
CACHE = REPO_ROOT / ".esquadra" / "cache"


@pytest.fixture(scope="module")
def router() -> Router:
    return build_router(load_spec(SQUAD_YAML), cache_dir=CACHE, include_llm=False)


def turns(*pairs: tuple[str, str | None]) -> list[HistoryTurn]:
    """History from (agent or None for the owner, text) pairs."""
    return [
        HistoryTurn(role="user" if agent is None else "assistant", content=text, agent=agent)
        for agent, text in pairs
    ]


@pytest.mark.parametrize(
    ("text", "agent"),
    [
        ("@lia registra 1.500 de venda hoje", "lia"),
        ("fala com o leo: quero um post pro natal", "leo"),
        ("Max, quanto é o 13º da Joana?", "max"),
        ("quero falar com a Lia sobre o fluxo de caixa", "lia"),
        ("/leo estagiaria pode fazer 8h?", "leo"),
    ],
)
async def test_explicit_mention_always_wins(router: Router, text: str, agent: str) -> None:
    decision = await router.route(text)
    assert decision["agent"] == agent
    assert decision["layer"] == "mention" and decision["confidence"] == 1.0


@pytest.mark.parametrize(
    ("history", "text", "agent"),
    [
        (
            turns(
                (None, "me da 3 ideias de post pro dia dos pais"),
                ("max", "1) Kit churrasco 2) Sorteio 3) Foto com o pai"),
            ),
            "gostei da 2, escreve a legenda",
            "max",
        ),
        (
            turns(
                (None, "qual meu saldo esse mes?"),
                ("leo", "Entrou R$ 12.400,00 e saiu R$ 9.100,00."),
            ),
            "e o mes passado?",
            "leo",
        ),
        (
            turns(
                (None, "estagiaria pode fazer 8h?"),
                ("lia", "Não: o limite é 6 h por dia e 30 h por semana."),
            ),
            "e no sabado?",
            "lia",
        ),
        (
            turns(
                (None, "faz um texto pra lista de transmissao"),
                ("max", "Aqui vai uma sugestão de texto…"),
            ),
            "pode mandar",
            "max",
        ),
    ],
)
async def test_followups_stay_with_the_previous_agent(
    router: Router, history: list[HistoryTurn], text: str, agent: str
) -> None:
    decision = await router.route(text, history)
    assert decision["agent"] == agent
    assert decision["layer"] == "followup"


async def test_a_clear_topic_switch_leaves_the_previous_agent(router: Router) -> None:
    history = turns((None, "qual meu saldo?"), ("leo", "Seu saldo é R$ 3.200,00."))
    decision = await router.route(
        "outra coisa: a funcionaria nova pode comecar segunda sem carteira assinada?", history
    )
    assert decision["agent"] == "lia"


async def test_history_without_agent_names_still_keeps_a_followup(router: Router) -> None:
    """Imported conversations carry no agent names: the answering agent is inferred."""
    history = turns(
        (None, "me da ideias de stories pra semana da loja de plantas"),
        (None, "1) Segunda: planta da semana; 2) Quarta: enquete sol ou sombra; 3) Sexta: mudas"),
    )
    history[1] = HistoryTurn(role="assistant", content=history[1]["content"], agent=None)
    decision = await router.route("gostei da 3, faz o roteiro", history)
    assert (decision["agent"], decision["layer"]) == ("max", "followup")


async def test_a_followup_into_the_reply_stays_despite_another_domains_words(
    router: Router,
) -> None:
    """An item of Lia's list, asked about with money words, is still Lia's."""
    history = turns(
        (None, "como organizo a folha da padaria com 3 funcionarios"),
        (
            "lia",
            "1) Salário registrado; 2) Horas extras com 50%; 3) Vale-transporte com desconto "
            "de até 6%; 4) Pagamento até o 5º dia útil.",
        ),
    )
    decision = await router.route(
        "o 2 ai, quanto fica pra quem ganha 1.700 e fez 10 horas?", history
    )
    assert decision["agent"] == "lia"


def test_embedding_new_examples_reports_progress(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from core.embeddings import shared_embedder

    texts = [f"exemplo de roteamento numero {i}" for i in range(5)]
    with caplog.at_level("INFO", logger="esquadra.embeddings"):
        shared_embedder("enpt").embed_cached(texts, tmp_path, batch=2)
    progress = [r.getMessage() for r in caplog.records if "embedded" in r.getMessage()]
    assert progress == [
        "embedded 2/5 routing examples",
        "embedded 4/5 routing examples",
        "embedded 5/5 routing examples",
    ]


async def test_decision_lists_candidates_with_scores(router: Router) -> None:
    decision = await router.route("quanto vou pagar de DAS esse mes?")
    assert decision["agent"] == "leo"
    assert {c["agent"] for c in decision["candidates"]} == {"leo", "max", "lia"}
    assert decision["candidates"][0]["agent"] == "leo"


def test_deactivated_agent_gets_no_traffic(tmp_path: Path) -> None:
    import asyncio

    config = copy_squad(tmp_path, {"- id: lia": "- id: lia\n    active: false"})
    router = build_router(load_spec(config), cache_dir=CACHE, include_llm=False)
    rows = read_routing_data(DATA / "routing_dev.jsonl")
    lia_rows = [r for r in rows if r.agent == "lia"]
    report = asyncio.run(evaluate(router, lia_rows + [r for r in rows if r.agent != "lia"][:40]))
    predicted = {item["predicted"] for item in report["items"]}
    assert "lia" not in predicted
    # Even "@lia" and follow-ups to an old Lia answer go elsewhere.
    mention = asyncio.run(router.route("@lia quanto é o 13º?"))
    assert mention["agent"] != "lia"


def test_dev_accuracy_stays_within_two_points_of_the_baseline(router: Router) -> None:
    import asyncio

    baseline = json.loads((DATA / "routing_baseline.json").read_text(encoding="utf-8"))
    report = asyncio.run(evaluate(router, read_routing_data(DATA / "routing_dev.jsonl")))
    assert report["n"] == baseline["n"]
    assert report["accuracy"] >= baseline["accuracy"] - 0.02, (
        f"dev accuracy {report['accuracy']:.1%} fell more than 2 points below the baseline "
        f"{baseline['accuracy']:.1%}"
    )


def test_wide_dev_accuracy_stays_within_two_points_of_its_baseline(router: Router) -> None:
    """The wide dev set: other segments and voices, cross-domain messages, follow-ups."""
    import asyncio

    baseline = json.loads((DATA / "routing_baseline_wide.json").read_text(encoding="utf-8"))
    report = asyncio.run(evaluate(router, read_routing_data(DATA / "routing_dev_wide.jsonl")))
    assert report["n"] == baseline["n"]
    for kind in ("followup", "hard"):
        assert report["categories"][kind]["n"] == baseline["categories"][kind]["n"]
    assert report["accuracy"] >= baseline["accuracy"] - 0.02, (
        f"wide dev accuracy {report['accuracy']:.1%} fell more than 2 points below the "
        f"baseline {baseline['accuracy']:.1%}"
    )


def test_llm_layer_decides_only_when_the_others_are_unsure(
    tmp_path: Path, online_env: dict[str, str], llm: Any
) -> None:
    import asyncio

    from graphs.compiler import build_squad

    config = copy_squad(
        tmp_path,
        {
            "fitted: agents.routing.json": "fitted: none.json",
            "      threshold: 0.55": "      threshold: 0.999",
        },
    )
    squad = build_squad(load_spec(config), online_env, cache_dir=CACHE)
    llm.configure(replies=['{"agent": "lia", "confidence": 0.9}'])

    async def run() -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            unsure = await squad.router.route("preciso resolver uma coisa do pessoal aqui")
            mentioned = await squad.router.route("@leo tudo certo?")
            return unsure, mentioned
        finally:
            await squad.aclose()

    unsure, mentioned = asyncio.run(run())
    assert unsure["agent"] == "lia" and unsure["layer"] == "llm"
    assert mentioned["layer"] == "mention"
    assert len(llm.stub.requests) == 1  # the mention never reached the model
    request = llm.stub.requests[0]
    assert request["response_format"]["type"] == "json_schema"
    assert "preciso resolver uma coisa do pessoal aqui" in request["messages"][-1]["content"]


def test_offline_router_has_no_llm_layer_and_falls_back(router: Router) -> None:
    assert "llm" not in [layer.name for layer in router.layers]
    assert router.fallback == "max"


def test_under_embedding_backlog_the_lexical_answer_stands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one message already waiting for the embedding thread, the next ones don't queue."""
    import asyncio
    import time

    from core.embeddings import Embedder

    config = copy_squad(
        tmp_path, {"      threshold: 0.55": "      threshold: 0.55\n      max_embedding_queue: 1"}
    )
    fitted = json.loads((tmp_path / "agents.routing.json").read_text(encoding="utf-8"))
    fitted["semantic"]["lexical_threshold"] = 1.01  # every message would want the embedding
    (tmp_path / "agents.routing.json").write_text(json.dumps(fitted), encoding="utf-8")
    router = build_router(load_spec(config), cache_dir=CACHE, include_llm=False)
    calls: list[list[str]] = []
    original = Embedder._query

    def slow_query(self: Embedder, texts: list[str]) -> Any:
        calls.append(texts)
        time.sleep(0.3)
        return original(self, texts)

    monkeypatch.setattr(Embedder, "_query", slow_query)
    texts = ["registrei a venda 881 no caixa", "post novo 882 pro insta", "ferias 883 da joana"]

    async def route_all() -> list[Any]:
        return await asyncio.gather(*(router.route(text) for text in texts))

    decisions = asyncio.run(route_all())
    assert len(calls) == 1  # the other two decided from the lexical stage
    assert [d["agent"] for d in decisions] == ["leo", "max", "lia"]


def test_a_fresh_cache_uses_the_shipped_example_embeddings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh clone must not spend half a minute embedding the squad's own examples."""
    import graphs.routing as routing
    from core.embeddings import Embedder

    monkeypatch.setattr(routing, "_HEADS", {})
    embedded: list[int] = []
    original = Embedder._query

    def counting_query(self: Embedder, texts: list[str]) -> Any:
        embedded.append(len(texts))
        return original(self, texts)

    monkeypatch.setattr(Embedder, "_query", counting_query)
    build_router(load_spec(SQUAD_YAML), cache_dir=tmp_path / "empty", include_llm=False)
    assert sum(embedded) <= 1  # at most the start-up warm-up message


def test_per_message_head_matches_sklearn_on_the_dev_set() -> None:
    """The head's one-message evaluation gives sklearn's own probabilities, to 1e-9."""
    import numpy as np

    from graphs.routing import build_head
    from nodes.routing._semantic import EMBEDDING_WEIGHT

    head = build_head(load_spec(SQUAD_YAML), CACHE, "enpt", 0)
    texts = [row.text for row in read_routing_data(DATA / "routing_dev.jsonl")][:120]
    embeddings = head.embedder.embed_cached(texts, CACHE)
    lexical, full = head.probabilities_for(embeddings, texts)
    for i, text in enumerate(texts):
        features = head.lexical_features(text)
        fast_lexical = head.lexical_probabilities(features)
        np.testing.assert_allclose([fast_lexical[a] for a in head.agents], lexical[i], atol=1e-9)
        dense = embeddings[i] * EMBEDDING_WEIGHT
        fast_full = head._as_dict(head._full(features, dense=dense))
        np.testing.assert_allclose([fast_full[a] for a in head.agents], full[i], atol=1e-9)
