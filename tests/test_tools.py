"""The deterministic tools, read as a specification of what each one answers and ignores."""

import json
from datetime import date

import pytest

from nodes.tools import TOOLS, ToolContext, run_tools
from nodes.tools.calendar import black_friday, easter, seasonal_dates
from nodes.tools.cash import CATEGORIES, cash_balance, cash_entry
from nodes.tools.labor import intern_hours, thirteenth_salary

TODAY = date(2026, 11, 30)
CTX = ToolContext(today=TODAY)


def entry_for(message: str) -> dict:
    result = cash_entry(message, CTX)
    assert result is not None
    [entry] = result.ledger_entries
    return entry


# cash_entry


def test_records_income_with_amount_category_and_date():
    result = cash_entry("Registre receita de R$ 1.500 da venda de hoje", CTX)
    assert result is not None
    assert result.tool == "cash_entry"
    assert result.text == (
        "Lançamento registrado: receita de R$ 1.500,00 em Vendas (venda), 30/11/2026."
    )
    entry = result.ledger_entries[0]
    assert (entry["kind"], entry["amount"], entry["category"], entry["date"]) == (
        "receita",
        "1500.00",
        "Vendas",
        "2026-11-30",
    )
    assert entry["source"] == "Registre receita de R$ 1.500 da venda de hoje"


def test_records_income_typed_without_accents_or_currency():
    entry = entry_for("registra 1500 de venda hj")
    assert (entry["kind"], entry["amount"], entry["category"], entry["date"]) == (
        "receita",
        "1500.00",
        "Vendas",
        "2026-11-30",
    )


def test_records_expense_from_yesterday():
    entry = entry_for("lança despesa de 350 reais com luz ontem")
    assert (entry["kind"], entry["amount"], entry["category"], entry["date"]) == (
        "despesa",
        "350.00",
        "Energia e água",
        "2026-11-29",
    )
    assert entry["description"] == "luz"


def test_paguei_is_an_expense_on_the_given_day():
    entry = entry_for("paguei 120 de gás dia 28/11")
    assert (entry["kind"], entry["amount"], entry["date"], entry["description"]) == (
        "despesa",
        "120.00",
        "2026-11-28",
        "gás",
    )


def test_saida_with_cents_goes_to_material():
    entry = entry_for("anota uma saída de 80,90 de material de limpeza")
    assert (entry["kind"], entry["amount"], entry["category"]) == ("despesa", "80.90", "Material")
    assert entry["description"] == "material de limpeza"


def test_anteontem_is_two_days_back():
    assert entry_for("vendi 3 mil reais anteontem")["date"] == "2026-11-28"


def test_day_with_full_year():
    assert entry_for("paguei aluguel de 2.500 em 05/11/2026")["date"] == "2026-11-05"


def test_day_without_month_is_the_latest_such_day():
    entry = entry_for("paguei o aluguel de 2.500 dia 5")
    assert (entry["category"], entry["date"]) == ("Aluguel", "2026-11-05")


def test_date_without_year_in_january_means_last_december():
    ctx = ToolContext(today=date(2027, 1, 5))
    result = cash_entry("paguei 200 de frete dia 28/12", ctx)
    assert result is not None
    assert result.ledger_entries[0]["date"] == "2026-12-28"


def test_digits_of_the_amount_do_not_pick_the_category():
    assert entry_for("paguei 1300 ao fornecedor")["category"] == "Fornecedores"


def test_unrecognised_subject_falls_back_to_other_expenses():
    assert entry_for("paguei 90 do chaveiro")["category"] == "Outras despesas"


def test_every_category_comes_from_the_fixed_list():
    messages = [
        "registra 1500 de venda hj",
        "recebi 450 do serviço de conserto",
        "paguei 900 ao fornecedor de tecido",
        "paguei 300 de imposto",
        "gastei 150 com anúncio no instagram",
        "paguei 2.000 de salário da funcionária",
        "paguei 60 de gasolina",
        "recebi 100 de reembolso",
    ]
    categories = [entry_for(message)["category"] for message in messages]
    assert categories == [
        "Vendas",
        "Serviços",
        "Fornecedores",
        "Impostos",
        "Marketing",
        "Folha de pagamento",
        "Transporte",
        "Outras receitas",
    ]
    assert set(categories) <= set(CATEGORIES)


def test_entry_id_is_deterministic_and_short():
    first = entry_for("registra 1500 de venda hj")
    second = entry_for("registra 1500 de venda hj")
    assert first["id"] == second["id"]
    assert len(first["id"]) == 12
    assert entry_for("registra 1600 de venda hj")["id"] != first["id"]


def test_entry_is_json_serialisable():
    entry = entry_for("anota uma saída de 80,90 de material de limpeza")
    assert json.loads(json.dumps(entry)) == entry


def test_unknown_kind_asks_instead_of_guessing():
    result = cash_entry("anota 200", CTX)
    assert result is not None
    assert result.ledger_entries == []
    assert (
        result.text
        == "Para registrar R$ 200,00 preciso saber: é receita (entrada) ou despesa (saída)?"
    )


@pytest.mark.parametrize(
    "message",
    [
        "registra a venda de hoje",
        "qual meu saldo?",
        "quanto entrou esse mês",
        "quanto é o 13º de quem ganha 2.000 e trabalhou 7 meses",
        "quanto devo cobrar por um corte de 50?",
        "quero vender lanche por 15",
    ],
)
def test_cash_entry_ignores_messages_that_are_not_recordings(message):
    assert cash_entry(message, CTX) is None


# cash_balance


LEDGER = (
    {"kind": "receita", "amount": "1500.00", "date": "2026-11-30"},
    {"kind": "despesa", "amount": "350.00", "date": "2026-11-29"},
    {"kind": "despesa", "amount": "80.90", "date": "2026-11-30"},
    {"kind": "receita", "amount": "200.10", "date": "2026-10-15"},
)


def test_balance_sums_the_whole_ledger():
    result = cash_balance("qual meu saldo?", ToolContext(TODAY, LEDGER))
    assert result is not None
    assert result.text == (
        "Caixa no total: receitas R$ 1.700,10, despesas R$ 430,90, saldo R$ 1.269,20 "
        "(com base em 4 lançamentos registrados nesta conversa)."
    )


def test_balance_this_month_leaves_older_entries_out():
    result = cash_balance("quanto entrou esse mês", ToolContext(TODAY, LEDGER))
    assert result is not None
    assert result.text == (
        "Caixa em novembro/2026: receitas R$ 1.500,00, despesas R$ 430,90, saldo R$ 1.069,10 "
        "(com base em 3 lançamentos registrados nesta conversa)."
    )


def test_balance_can_be_negative():
    ledger = ({"kind": "despesa", "amount": "99.99", "date": "2026-11-30"},)
    result = cash_balance("resumo do caixa", ToolContext(TODAY, ledger))
    assert result is not None
    assert "saldo -R$ 99,99" in result.text


def test_balance_based_on_one_entry_uses_singular():
    ledger = ({"kind": "receita", "amount": "10", "date": "2026-11-30"},)
    result = cash_balance("qual meu saldo?", ToolContext(TODAY, ledger))
    assert result is not None
    assert result.text.endswith("(com base em 1 lançamento registrado nesta conversa).")


def test_balance_with_empty_ledger_says_nothing_was_recorded():
    result = cash_balance("qual meu saldo?", CTX)
    assert result is not None
    assert result.text == (
        "Ainda não há lançamentos registrados nesta conversa, então não há saldo a calcular."
    )


def test_balance_skips_malformed_entries():
    ledger = (*LEDGER, {"kind": "receita", "amount": "muito"}, {"amount": "5"})
    result = cash_balance("qual meu saldo", ToolContext(TODAY, ledger))
    assert result is not None
    assert "com base em 4 lançamentos" in result.text


@pytest.mark.parametrize(
    "message", ["registra 1500 no caixa de venda", "bom dia!", "quanto cobro de frete?"]
)
def test_balance_ignores_recordings_and_other_talk(message):
    assert cash_balance(message, ToolContext(TODAY, LEDGER)) is None


# thirteenth_salary


def test_proportional_thirteenth():
    result = thirteenth_salary("quanto é o 13º de quem ganha 2.000 e trabalhou 7 meses", CTX)
    assert result is not None
    assert result.text.startswith("13º proporcional: R$ 2.000,00 ÷ 12 × 7 meses = R$ 1.166,67")
    assert "15 dias ou mais" in result.text


def test_thirteenth_with_typos_and_bare_13():
    result = thirteenth_salary("qnto e o 13 de quem ganha 1800 e trabalhou 5 meses", CTX)
    assert result is not None
    assert "= R$ 750,00" in result.text


@pytest.mark.parametrize(
    "message",
    [
        "décimo terceiro de quem ganha R$ 2.400 e trabalhou 3 meses",
        "13o de quem ganha 2400, trabalhou tres meses",
    ],
)
def test_thirteenth_spellings(message):
    result = thirteenth_salary(message, CTX)
    assert result is not None
    assert "R$ 2.400,00 ÷ 12 × 3 meses = R$ 600,00" in result.text


def test_thirteenth_caps_at_twelve_months():
    result = thirteenth_salary("13º de quem ganha 1.200 e trabalhou 14 meses", CTX)
    assert result is not None
    assert "× 12 meses (o 13º considera no máximo 12 meses) = R$ 1.200,00" in result.text


def test_thirteenth_without_months_gives_full_year_and_monthly_share():
    result = thirteenth_salary("13º de quem ganha 3000", CTX)
    assert result is not None
    assert result.text.startswith(
        "Com o ano completo, o 13º de quem ganha R$ 3.000,00 é R$ 3.000,00; "
        "se trabalhou menos, são R$ 250,00 por mês trabalhado"
    )


def test_thirteenth_without_salary_states_the_rule():
    result = thirteenth_salary("quando tenho que pagar o 13º?", CTX)
    assert result is not None
    assert "salário ÷ 12 × meses trabalhados" in result.text
    assert "30 de novembro" in result.text


@pytest.mark.parametrize(
    "message", ["paguei 130 de luz dia 13", "registra 1500 de venda hj", "qual meu saldo?"]
)
def test_thirteenth_ignores_other_messages(message):
    assert thirteenth_salary(message, CTX) is None


# intern_hours


def test_intern_cannot_work_eight_hours_a_day():
    result = intern_hours("estagiária pode fazer 8h?", CTX)
    assert result is not None
    assert result.text.startswith("Não: 8 h por dia passa do limite de 6 h por dia")
    assert "Lei 11.788/2008" in result.text


def test_intern_may_work_six_hours_a_day():
    result = intern_hours("estagiario pode trabalhar 6 horas?", CTX)
    assert result is not None
    assert result.text.startswith("Sim: 6 h por dia está dentro do limite de 6 h por dia")


def test_intern_weekly_hours_are_checked_against_thirty():
    result = intern_hours("a estagiaria pode fazer 35 horas por semana?", CTX)
    assert result is not None
    assert result.text.startswith("Não: 35 h por semana passa do limite de 30 h por semana")


def test_fundamental_student_limit_is_four_hours():
    result = intern_hours("estagiário do ensino fundamental pode fazer 5h por dia?", CTX)
    assert result is not None
    assert result.text.startswith("Não: 5 h por dia passa do limite de 4 h por dia")


def test_intern_question_without_number_states_the_rule():
    result = intern_hours("qual a jornada máxima de estagiário?", CTX)
    assert result is not None
    assert "6 h por dia e 30 h por semana" in result.text
    assert "4 h por dia e 20 h por" in result.text


@pytest.mark.parametrize(
    "message", ["quanto pagar de bolsa pro estagiário?", "funcionário pode fazer 8h?"]
)
def test_intern_hours_ignores_other_questions(message):
    assert intern_hours(message, CTX) is None


# seasonal_dates


def test_easter_computus_matches_known_years():
    assert [easter(year) for year in (2024, 2025, 2026, 2027)] == [
        date(2024, 3, 31),
        date(2025, 4, 20),
        date(2026, 4, 5),
        date(2027, 3, 28),
    ]


def test_black_friday_is_the_day_after_the_fourth_thursday_of_november():
    assert black_friday(2025) == date(2025, 11, 28)
    assert black_friday(2026) == date(2026, 11, 27)


def test_lists_the_next_four_commercial_dates():
    result = seasonal_dates("quais datas comemorativas vem ai?", CTX)
    assert result is not None
    assert result.text == (
        "Próximas datas comerciais: Natal: 25/12/2026 (sexta, faltam 25 dias); "
        "Carnaval: 09/02/2027 (terça, faltam 71 dias); "
        "Dia do Consumidor: 15/03/2027 (segunda, faltam 105 dias); "
        "Páscoa: 28/03/2027 (domingo, faltam 118 dias)."
    )


def test_campaign_wording_also_lists_dates():
    result = seasonal_dates("próximas datas pra campanha", CTX)
    assert result is not None
    assert result.text.startswith("Próximas datas comerciais: Natal: 25/12/2026")


def test_asked_date_that_already_passed_this_year_is_next_years():
    result = seasonal_dates("quando é o dia dos pais?", CTX)
    assert result is not None
    assert result.text == "Dia dos Pais: 08/08/2027 (domingo, faltam 251 dias)."


def test_mothers_day_is_the_second_sunday_of_may():
    result = seasonal_dates("quando e o dia das maes", CTX)
    assert result is not None
    assert result.text.startswith("Dia das Mães: 09/05/2027 (domingo")


def test_black_friday_just_passed_points_to_next_year():
    result = seasonal_dates("quando é a black friday?", CTX)
    assert result is not None
    assert result.text.startswith("Black Friday: 26/11/2027 (sexta")


def test_date_that_is_today_says_so():
    result = seasonal_dates("natal é quando?", ToolContext(today=date(2026, 12, 25)))
    assert result is not None
    assert result.text == "Natal: 25/12/2026 (sexta, é hoje)."


@pytest.mark.parametrize(
    "message", ["qual a data de vencimento do boleto?", "registra 1500 de venda hj", "oi"]
)
def test_seasonal_dates_ignores_other_messages(message):
    assert seasonal_dates(message, CTX) is None


# registry


def test_registry_has_exactly_the_five_tools():
    assert set(TOOLS) == {
        "cash_entry",
        "cash_balance",
        "thirteenth_salary",
        "intern_hours",
        "seasonal_dates",
    }


def test_run_tools_keeps_only_tools_that_answered_in_order():
    results = run_tools(
        ["seasonal_dates", "cash_balance", "cash_entry"], "registra 1500 de venda hj", CTX
    )
    assert [result.tool for result in results] == ["cash_entry"]


def test_run_tools_with_unknown_name_fails_loudly():
    with pytest.raises(KeyError):
        run_tools(["cash_entyr"], "registra 1500 de venda hj", CTX)
