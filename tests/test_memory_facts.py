"""Fact extraction: everyday owner messages in, short pt-BR facts out; questions give nothing."""

from __future__ import annotations

import json

import pytest
from conftest import REPO_ROOT

from core.facts import KINDS, Fact, extract_facts

# (message, {kind: text}) — typos, missing accents and WhatsApp style on purpose.
CASES: list[tuple[str, dict[str, str]]] = [
    ("tenho uma padaria em Campinas", {"business": "Tem uma padaria em Campinas"}),
    ("são 5 funcionários", {"employees": "Tem 5 funcionários"}),
    ("tenho 5 funcionarios", {"employees": "Tem 5 funcionários"}),
    ("agora sao 6 funcionarios", {"employees": "Tem 6 funcionários"}),
    (
        "meu regime é Simples, anexo I",
        {"tax_regime": "Regime tributário: Simples Nacional, anexo I"},
    ),
    (
        "sou do simples nacional anexo 3",
        {"tax_regime": "Regime tributário: Simples Nacional, anexo III"},
    ),
    ("sou optante pelo lucro presumido", {"tax_regime": "Regime tributário: Lucro Presumido"}),
    ("sou mei posso ter funcionario?", {"tax_regime": "Regime tributário: MEI"}),
    (
        "tenho uma padarya em sorocaba/sp com 4 funcinarios",
        {"business": "Tem uma padaria em Sorocaba/SP", "employees": "Tem 4 funcionários"},
    ),
    (
        "Bom dia! Tenho uma barbearia em São José dos Campos - SP e 3 funcionarios",
        {
            "business": "Tem uma barbearia em São José dos Campos/SP",
            "employees": "Tem 3 funcionários",
        },
    ),
    (
        "Oi! Sou a Maria, tenho um salão de beleza em Belém-PA, são 4 funcionárias, "
        "regime simples anexo 3",
        {
            "business": "Tem um salão de beleza em Belém/PA",
            "employees": "Tem 4 funcionárias",
            "tax_regime": "Regime tributário: Simples Nacional, anexo III",
        },
    ),
    (
        "minha loja de roupas fica em Belo Horizonte",
        {"business": "Tem uma loja de roupas em Belo Horizonte"},
    ),
    ("sou dona de um pet shop em Niterói", {"business": "Tem um pet shop em Niterói"}),
    ("Meu negócio é uma confeitaria", {"business": "Tem uma confeitaria"}),
    ("moro em ribeirao preto", {"city": "Fica em Ribeirão Preto"}),
    ("fica em Campinas, SP", {"city": "Fica em Campinas/SP"}),
    ("abro as 6 e fecho as 20", {"hours": "Horário: das 6h às 20h"}),
    (
        "funcionamos de segunda a sabado das 7h as 19h30",
        {"hours": "Horário: das 7h às 19h30, de segunda a sábado"},
    ),
    (
        "atendo das 9 as 18 de segunda a sexta",
        {"hours": "Horário: das 9h às 18h, de segunda a sexta"},
    ),
    ("a padaria abre as 7:30 e fecha as 19", {"hours": "Horário: das 7h30 às 19h"}),
    (
        "vendo pão, bolo e salgado, e tenho 2 funcionarias",
        {"products": "Principais produtos: pão, bolo e salgado", "employees": "Tem 2 funcionárias"},
    ),
    ("o que mais vende aqui é o pão de queijo", {"products": "Principais produtos: pão de queijo"}),
    ("minha padaria se chama Pão Quente", {"name": "Nome do negócio: Pão Quente"}),
    ('o nome da empresa é "Doces da Vó"', {"name": "Nome do negócio: Doces da Vó"}),
    ("nao tenho funcionario, trabalho sozinha", {"employees": "Não tem funcionários"}),
    ("minha equipe tem 7 pessoas", {"employees": "Tem 7 funcionários"}),
    (
        "oi tudo bem? tenho um restaurante em goiania, quanto de imposto eu pago no simples?",
        {"business": "Tem um restaurante em Goiânia"},
    ),
    # Negatives: questions, hypotheticals, other people's business, plans, cash entries.
    ("quanto é o DAS de uma padaria?", {}),
    ("quantos funcionarios uma padaria precisa", {}),
    ("se eu tiver 5 funcionarios quanto pago?", {}),
    ("tenho 5 funcionarios?", {}),
    ("minha amiga tem uma padaria em campinas", {}),
    ("quero abrir uma padaria em campinas", {}),
    ("vale a pena sair do mei pro simples?", {}),
    ("nao sou mei ainda", {}),
    ("registra 1.500 de venda hoje", {}),
    ("o pix fica em nome de quem?", {}),
    ("tenho uma duvida sobre ferias", {}),
    ("estou em duvida sobre o 13", {}),
    ("to vendo aqui que o pix caiu", {}),
    ("meu funcionario tem 5 filhos", {}),
    ("tenho uma funcionaria que vive atrasada, o que faço", {}),
    ("funcionaria voltou do inss e nao consegue fazer o mesmo trabalho de antes", {}),
]


@pytest.mark.parametrize(("message", "expected"), CASES, ids=[c[0][:40] for c in CASES])
def test_extracts_the_stated_facts_and_nothing_else(message: str, expected: dict[str, str]) -> None:
    assert {fact.kind: fact.text for fact in extract_facts(message)} == expected


def test_the_table_is_big_and_varied() -> None:
    assert len(CASES) >= 20
    kinds = {kind for _, expected in CASES for kind in expected}
    assert kinds == set(KINDS)
    assert sum(1 for _, expected in CASES if not expected) >= 10


def test_the_last_statement_of_a_kind_wins_within_one_message() -> None:
    facts = extract_facts("eram 5 funcionarios. agora sao 6 funcionarios")
    assert facts == [Fact("employees", "Tem 6 funcionários")]


def test_deterministic() -> None:
    message = "Tenho uma barbearia em Campinas e 3 funcionarios, sou mei"
    assert extract_facts(message) == extract_facts(message)


def test_routing_questions_rarely_look_like_facts() -> None:
    """The squad's 1,600 real-looking routing messages are mostly questions: few facts, all sane."""
    rows = [
        json.loads(line)
        for path in sorted((REPO_ROOT / "tests" / "data").glob("routing_*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    with_facts = [(row["text"], extract_facts(row["text"])) for row in rows]
    with_facts = [(text, facts) for text, facts in with_facts if facts]
    assert len(rows) > 1000
    assert len(with_facts) < 0.02 * len(rows)
    for text, facts in with_facts:
        for fact in facts:
            assert len(fact.text) <= 100, (text, fact)
