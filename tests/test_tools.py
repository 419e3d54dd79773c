"""The fact tools (nodes/tools), read as a specification of what each one answers and ignores."""

from datetime import date

import pytest

from nodes.tools import TOOLS, ToolContext, run_tools
from nodes.tools.calendar import black_friday, easter, seasonal_dates
from nodes.tools.labor import intern_hours, thirteenth_salary

TODAY = date(2026, 11, 30)
CTX = ToolContext(today=TODAY)


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


def test_registry_has_exactly_the_three_fact_tools():
    assert set(TOOLS) == {
        "thirteenth_salary",
        "intern_hours",
        "seasonal_dates",
    }


def test_run_tools_keeps_only_tools_that_answered_in_order():
    results = run_tools(
        ["seasonal_dates", "intern_hours", "thirteenth_salary"],
        "estagiário pode fazer 8h? e o 13 de quem ganha 1800 e trabalhou 5 meses",
        CTX,
    )
    assert [result.tool for result in results] == ["intern_hours", "thirteenth_salary"]


def test_run_tools_with_unknown_name_fails_loudly():
    with pytest.raises(KeyError):
        run_tools(["intern_hour"], "estagiário pode fazer 8h?", CTX)
