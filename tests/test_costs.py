"""The cost ledger: every model call — agent replies and the llm routing layer's — priced with
the YAML's prices, summed by `GET /admin/api/costs`, with today's spend against each agent's
daily budget. Against the real Postgres and the stub LLM, whose reported usage is the truth the
figures are checked against (recomputed here from the requests the stub recorded)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
from conftest import ADMIN_HEADERS, ADMIN_TOKEN, copy_squad, parse_sse
from litestar.testing import AsyncTestClient

from checkpointing import open_stores
from checkpointing.cost_ledger import spent_today_by_agent
from core.settings import Settings
from fakes.stub_llm import estimate_prompt_tokens, split_reply
from graphs.state import BUSINESS_TZ
from server.app import create_app

RATE = Decimal("5.40")
# The llm routing layer on its own profile, priced unlike the agents' (default: 0.15 / 0.60).
ROUTER_PROFILE = """  router:
    model: router-1
    base_url_env: OPENAI_BASE_URL
    api_key_env: OPENAI_API_KEY
    price_per_1m_tokens:
      input: "1.10"
      output: "4.30"
"""
PRICES = {
    "stub-1": (Decimal("0.15"), Decimal("0.60")),
    "router-1": (Decimal("1.10"), Decimal("4.30")),
}
LAYERS = """    - type: rules
      threshold: 0.5
      keywords_decide: false
    - type: followup
      threshold: 0.5
    - type: semantic
      threshold: 0.55
    - type: llm
      model: default
      threshold: 0.5"""
# Mentions decide at once; anything else goes to the model, on the router's profile.
RULES_THEN_LLM = """    - type: rules
      threshold: 0.5
      keywords_decide: false
    - type: llm
      model: router
      threshold: 0.5"""

CLASSIFY_REPLY = '{"agent": "lia", "confidence": 0.8}'
# (thread, user, message, routing reply or None when a mention decides, agent reply, agent)
TURNS = [
    (
        "t-caixa",
        "u-padaria",
        "como anda meu caixa?",
        '{"agent": "leo", "confidence": 0.93}',
        "Seu caixa está positivo.",
        "leo",
    ),
    (
        "t-caixa",
        "u-padaria",
        "e as despesas do mês?",
        '{"agent": "leo", "confidence": 0.88}',
        "As despesas somam R$ 1.200,00 neste mês.",
        "leo",
    ),
    (
        "t-ferias",
        "u-barbearia",
        "ferias do funcionario",
        '{"agent": "lia", "confidence": 0.9}',
        "As férias são de 30 dias.",
        "lia",
    ),
    # The model is unsure: its answer is discarded (fallback) but its tokens are paid for.
    (
        "t-ferias",
        "u-barbearia",
        "hmm sei la",
        '{"agent": "lia", "confidence": 0.2}',
        "Posso ajudar com vendas e marketing.",
        "max",
    ),
    (
        "t-post",
        "u-padaria",
        "@max um post pro dia dos pais",
        None,
        "Que tal um post com a foto do pão?",
        "max",
    ),
]


def _cost(model: str, tokens_in: int, tokens_out: int) -> Decimal:
    """One call's reais, rounded once to 6 places (as the `done` event shows a reply's)."""
    price_in, price_out = PRICES[model]
    six = Decimal("0.000001")
    usd = (price_in * tokens_in + price_out * tokens_out) / 1_000_000
    return (usd * RATE).quantize(six, ROUND_HALF_EVEN)


@pytest.fixture(scope="module")
async def ledger(
    postgres_url: str, stub_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Any, dict[str, dict[str, Decimal]]]]:
    """The app on Postgres with the llm routing layer on the stub, after the scripted turns;
    and the expected reais per agent, per thread and per agent's routing, from what the stub
    recorded (each request's prompt tokens and reply pieces, as the stub reports them)."""
    root = tmp_path_factory.mktemp("costs")
    config = copy_squad(
        root,
        {
            "    max_retries: 1                   # extra attempts after a failure (0-10)\n": (
                "    max_retries: 1\n" + ROUTER_PROFILE
            ),
            LAYERS: RULES_THEN_LLM,
            "    temperature: 0.4                 # low: numbers and rules, little creativity": (
                '    temperature: 0.4\n    budget_brl_per_day: "0.000100"'
            ),
        },
    )
    settings = Settings(
        config_path=config, database_url=postgres_url, data_dir=root, admin_token=ADMIN_TOKEN
    )
    async with open_stores(settings) as stores, stores.db.transaction() as tx:
        await tx.execute("DELETE FROM model_costs")
    stub_server.reset()
    replies: list[str] = []
    for *_, routing, reply, _agent in TURNS:
        replies += [routing, reply] if routing else [reply]
    replies.append(CLASSIFY_REPLY)
    stub_server.configure(replies=replies)
    environ = {
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": stub_server.url,
        "ESQUADRA_MODEL": "stub-1",
    }
    async with AsyncTestClient(app=create_app(settings, environ=environ)) as client:
        for thread, user, message, _routing, _reply, agent in TURNS:
            response = await client.post(
                "/v1/chat", json={"message": message, "thread_id": thread, "user_id": user}
            )
            events = parse_sse(response.text)
            assert events[-1][0] == "done", events
            assert events[-1][1]["agent"] == agent
        # The router alone (no turn): its llm call is in the ledger too, on the thread it names.
        response = await client.post(
            "/v1/classify", json={"text": "preciso de uma ajuda", "thread_id": "t-classify"}
        )
        assert response.json()["layer"] == "llm"
        expected = _expected(stub_server.stub.requests, replies)
        yield client, expected


def _expected(requests: list[dict[str, Any]], replies: list[str]) -> dict[str, Any]:
    """Reais per agent, per thread and per agent's routing, from the stub's own record."""
    assert len(requests) == len(replies)  # one model call per scripted reply, no other
    calls = iter(zip(requests, replies, strict=True))
    by_agent: dict[str, Decimal] = defaultdict(Decimal)
    by_thread: dict[str, Decimal] = defaultdict(Decimal)
    routing: dict[str, Decimal] = defaultdict(Decimal)
    for thread, _user, _message, routed, _reply, agent in TURNS:
        spent = []
        if routed:
            request, reply = next(calls)
            assert request["model"] == "router-1"
            tokens_out = len(split_reply(reply, None))
            cost = _cost("router-1", estimate_prompt_tokens(request["messages"]), tokens_out)
            routing[agent] += cost
            spent.append(cost)
        request, reply = next(calls)
        assert request["model"] == "stub-1"
        tokens_out = len(split_reply(reply, None))
        spent.append(_cost("stub-1", estimate_prompt_tokens(request["messages"]), tokens_out))
        by_agent[agent] += sum(spent)
        by_thread[thread] += sum(spent)
    request, reply = next(calls)  # POST /v1/classify
    cost = _cost("router-1", estimate_prompt_tokens(request["messages"]), len(reply.split()))
    by_agent["lia"] += cost
    by_thread["t-classify"] = cost
    routing["lia"] += cost
    return {"agent": dict(by_agent), "thread": dict(by_thread), "routing": dict(routing)}


async def costs(client: Any, **params: str) -> Any:
    return await client.get("/admin/api/costs", params=params, headers=ADMIN_HEADERS)


async def test_cost_per_agent_is_usage_times_prices_routing_included(ledger: Any) -> None:
    client, expected = ledger
    body = (await costs(client, group_by="agent")).json()
    assert {g["key"]: Decimal(g["cost_brl"]) for g in body["groups"]} == expected["agent"]


async def test_routing_cost_per_agent_is_the_llm_layers_calls(ledger: Any) -> None:
    client, expected = ledger
    body = (await costs(client, group_by="agent")).json()
    routing = {g["key"]: Decimal(g["routing_cost_brl"]) for g in body["groups"]}
    assert routing == {agent: expected["routing"].get(agent, Decimal(0)) for agent in routing}
    assert routing["max"] > 0  # the unsure answer that sent a turn to the fallback, paid for


async def test_cost_per_thread_is_usage_times_prices(ledger: Any) -> None:
    client, expected = ledger
    body = (await costs(client, group_by="thread")).json()
    assert {g["key"]: Decimal(g["cost_brl"]) for g in body["groups"]} == expected["thread"]


async def test_by_user_and_by_day_add_up_to_the_same_total(ledger: Any) -> None:
    client, expected = ledger
    total = sum(expected["agent"].values())
    by_user = (await costs(client, group_by="user")).json()
    by_day = (await costs(client, group_by="day")).json()
    assert sum(Decimal(g["cost_brl"]) for g in by_user["groups"]) == total
    assert {g["key"] for g in by_user["groups"]} == {"u-padaria", "u-barbearia", None}
    assert [g["key"] for g in by_day["groups"]] == [by_day["today"]]
    assert Decimal(by_day["total_cost_brl"]) == total


async def test_budgets_show_todays_spend_against_the_yaml(ledger: Any) -> None:
    client, expected = ledger
    budgets = {b["agent"]: b for b in (await costs(client)).json()["budgets"]}
    assert budgets["leo"]["budget_brl"] == "0.000100"
    assert Decimal(budgets["leo"]["spent_brl"]) == expected["agent"]["leo"]
    assert budgets["leo"]["over_budget"] is True
    assert budgets["lia"]["budget_brl"] is None and budgets["lia"]["over_budget"] is False


async def test_spent_today_by_agent_is_what_the_alerts_read(ledger: Any) -> None:
    from datetime import datetime

    client, expected = ledger
    db = client.app.state.turn_log.db
    spent = await spent_today_by_agent(db, datetime.now(BUSINESS_TZ).date())
    assert spent == expected["agent"]


async def test_a_range_before_the_calls_is_empty(ledger: Any) -> None:
    client, _ = ledger
    body = (await costs(client, **{"from": "2020-01-01", "to": "2020-01-31"})).json()
    assert body["groups"] == [] and body["total_cost_brl"] == "0.000000"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"group_by": "model"}, "invalid_group_by"),
        ({"from": "ontem"}, "invalid_date"),
        ({"to": "2026-13-01"}, "invalid_date"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "invalid_date_range"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "invalid_date_range"),
    ],
)
async def test_bad_parameters_are_422_with_a_code(
    ledger: Any, params: dict[str, str], code: str
) -> None:
    client, _ = ledger
    response = await costs(client, **params)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code and response.json()["message"]


async def test_the_costs_need_the_admin_token(ledger: Any) -> None:
    client, _ = ledger
    response = await client.get("/admin/api/costs")
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"
