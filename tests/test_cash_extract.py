"""Offline mode reads a cash entry from the owner's Portuguese: kind, amount, date, category,
description — and never takes an identifier, a date or an order number for an amount."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tools.base import ToolEnv
from tools.cash import extract_summary, extract_transaction

ENV = ToolEnv(now=datetime(2026, 11, 30, 15, tzinfo=UTC))


def entry(message: str, env: ToolEnv = ENV) -> dict:
    found = extract_transaction(message, env)
    assert found is not None, message
    return found


def test_income_with_amount_category_and_date() -> None:
    found = entry("Registre receita de R$ 1.500 da venda de hoje")
    assert (found["kind"], found["amount"], found["category"], found["date"]) == (
        "income",
        "1500.00",
        "Vendas",
        "2026-11-30",
    )


def test_income_typed_without_accents_or_currency() -> None:
    found = entry("registra 1500 de venda hj")
    assert (found["kind"], found["amount"], found["date"]) == ("income", "1500.00", "2026-11-30")


def test_expense_from_yesterday_with_its_description() -> None:
    found = entry("lança despesa de 350 reais com luz ontem")
    assert (found["kind"], found["amount"], found["category"], found["date"]) == (
        "expense",
        "350.00",
        "Energia e água",
        "2026-11-29",
    )
    assert found["description"] == "luz"


def test_paguei_is_an_expense_on_the_given_day() -> None:
    found = entry("paguei 120 de gás dia 28/11")
    assert (found["kind"], found["amount"], found["date"]) == ("expense", "120.00", "2026-11-28")
    assert found["description"] == "gás"


def test_cents_and_a_category_from_the_words() -> None:
    found = entry("anota uma saída de 80,90 de material de limpeza")
    assert (found["kind"], found["amount"], found["category"]) == ("expense", "80.90", "Material")


def test_relative_and_full_dates() -> None:
    assert entry("vendi 3 mil reais anteontem")["date"] == "2026-11-28"
    assert entry("paguei aluguel de 2.500 em 05/11/2026")["date"] == "2026-11-05"
    assert entry("paguei o aluguel de 2.500 dia 5")["date"] == "2026-11-05"
    january = ToolEnv(now=datetime(2027, 1, 5, 15, tzinfo=UTC))
    assert entry("paguei 200 de frete dia 28/12", january)["date"] == "2026-12-28"


def test_hoje_is_brazilian_time() -> None:
    # 01:30 UTC on 1 December is still 30 November in São Paulo.
    late = ToolEnv(now=datetime(2026, 12, 1, 1, 30, tzinfo=UTC))
    assert entry("registra 100 de venda hoje", late)["date"] == "2026-11-30"
    assert late.today() == date(2026, 11, 30)


def test_a_cpf_and_a_phone_are_never_the_amount_nor_the_description() -> None:
    found = entry(
        "meu CPF é 123.456.789-09 e o telefone (11) 98765-4321, quero registrar uma despesa de "
        "R$ 230,00 de conta de luz"
    )
    assert found["amount"] == "230.00"
    assert found["category"] == "Energia e água"
    assert "123" not in (found["description"] or "") and "98765" not in (found["description"] or "")


def test_without_an_amount_nothing_is_recorded() -> None:
    assert extract_transaction("meu CPF é 123.456.789-09, registra uma despesa", ENV) is None


@pytest.mark.parametrize(
    "message",
    [
        "registra a venda de hoje",
        "qual meu saldo?",
        "quanto entrou esse mês",
        "quanto devo cobrar por um corte de 50?",
        "anota 200",  # no kind: asking beats guessing
    ],
)
def test_messages_that_are_not_recordings(message: str) -> None:
    assert extract_transaction(message, ENV) is None


def test_summary_of_this_month_or_the_last() -> None:
    assert extract_summary("qual meu saldo?", ENV) == {"month": "2026-11"}
    assert extract_summary("resumo do caixa do mês passado", ENV) == {"month": "2026-10"}
    assert extract_summary("registra 1500 de venda hj", ENV) is None


@pytest.mark.parametrize(
    ("message", "amount"),
    [
        ("registra venda de R$ 1.500,00", "1500.00"),
        ("registra venda de 1500", "1500.00"),
        ("registra venda de 1.500", "1500.00"),
        ("registra venda de 1,5 mil", "1500.00"),
        ("registra venda de 500 reais", "500.00"),
        ("registra venda de R$1.234,56", "1234.56"),
        ("registra venda de dois mil", "2000.00"),
        ("registra venda de mil e duzentos", "1200.00"),
        ("registra venda de 1.200 do pedido 4471 de 30/11", "1200.00"),
    ],
)
def test_amounts_as_owners_write_them(message: str, amount: str) -> None:
    assert entry(message)["amount"] == amount
