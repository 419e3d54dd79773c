"""Simples Nacional DAS and DAS-MEI: worked examples computed by hand in each test's comment."""

import itertools
from decimal import Decimal as D

import pytest

from finance.simples import ANNEXES, SimplesError, mei_das, simples_das


def test_annex_i_third_bracket():
    # RBT12 600.000 → bracket 3: 9,5 %, deduction 13.860.
    # (600.000 × 0,095 − 13.860) ÷ 600.000 = 43.140 ÷ 600.000 = 7,19 %; 50.000 × 7,19 % = 3.595.
    result = simples_das("I", D(600000), D(50000))
    assert (result.bracket, result.nominal_rate, result.deduction) == (3, D("0.095"), D(13860))
    assert result.effective_rate == D("0.0719")
    assert result.das_amount == D("3595.00")


def test_the_upper_bound_belongs_to_its_bracket():
    # Annex III, RBT12 exactly 360.000 is still bracket 2 (11,2 %, 9.360):
    # (40.320 − 9.360) ÷ 360.000 = 8,6 %; 30.000 × 8,6 % = 2.580.
    result = simples_das("III", D(360000), D(30000))
    assert (result.bracket, result.effective_rate, result.das_amount) == (
        2,
        D("0.086"),
        D("2580.00"),
    )


def test_one_centavo_above_the_bound_is_the_next_bracket():
    assert simples_das("III", D("360000.01"), D(1000)).bracket == 3


def test_first_bracket_effective_rate_is_the_nominal_rate():
    # Annex II bracket 1: 4,5 % of 10.000 = 450.
    result = simples_das("II", D(100000), D(10000))
    assert (result.effective_rate, result.das_amount) == (D("0.045"), D("450.00"))


def test_annex_iv_last_bracket():
    # (4.800.000 × 0,33 − 828.000) ÷ 4.800.000 = 756.000 ÷ 4.800.000 = 15,75 %;
    # 400.000 × 15,75 % = 63.000.
    result = simples_das("IV", D(4800000), D(400000))
    assert (result.bracket, result.effective_rate, result.das_amount) == (
        6,
        D("0.1575"),
        D("63000.00"),
    )


def test_annex_v_without_payroll_stays_v():
    # Bracket 4 of V: 20,5 %, 17.100 → (205.000 − 17.100) ÷ 1.000.000 = 18,79 %;
    # 80.000 × 18,79 % = 15.032.
    result = simples_das("V", D(1000000), D(80000))
    assert (result.annex_applied, result.das_amount) == ("V", D("15032.00"))


def test_fator_r_of_exactly_28_percent_moves_v_to_iii():
    # 280.000 ÷ 1.000.000 = 28 % → Annex III bracket 4: 16 %, 35.640:
    # (160.000 − 35.640) ÷ 1.000.000 = 12,436 %; 80.000 × 12,436 % = 9.948,80.
    result = simples_das("V", D(1000000), D(80000), payroll12=D(280000))
    assert (result.annex_applied, result.bracket, result.das_amount) == ("III", 4, D("9948.80"))
    assert result.fator_r == D("0.28")


def test_fator_r_below_28_percent_stays_v():
    result = simples_das("V", D(1000000), D(80000), payroll12=D("279999.99"))
    assert (result.annex_applied, result.das_amount) == ("V", D("15032.00"))


def test_fator_r_only_concerns_annex_v():
    assert simples_das("IV", D(1000000), D(80000), payroll12=D(900000)).annex_applied == "IV"


def test_das_rounds_half_cents_up():
    # 6 % of 100,75 = 6,045 → 6,05 (banker's rounding would give 6,04).
    assert simples_das("III", D(100000), D("100.75")).das_amount == D("6.05")


def test_the_effective_rate_is_not_rounded_before_multiplying():
    # Annex I, RBT12 210.000: (210.000 × 0,073 − 5.940) ÷ 210.000 = 9.390 ÷ 210.000, a repeating
    # decimal (4,4714…%). 21.000 × 9.390 ÷ 210.000 = 939,00 exactly; a rate cut to 4,47 % would
    # give 938,70.
    result = simples_das("I", D(210000), D(21000))
    assert result.das_amount == D("939.00")
    assert str(result.effective_rate).startswith("0.0447142857142857")


def test_first_month_uses_its_own_revenue_times_twelve():
    # 20.000 × 12 = 240.000 → Annex III bracket 2: (26.880 − 9.360) ÷ 240.000 = 7,3 %;
    # 20.000 × 7,3 % = 1.460.
    result = simples_das("III", None, D(20000), months_active=0)
    assert (result.rbt12, result.bracket, result.das_amount) == (D(240000), 2, D("1460.00"))


def test_first_year_uses_the_average_of_the_months_so_far():
    # 3 months with 90.000 → 30.000 a month × 12 = 360.000 → Annex I bracket 2 (7,3 %, 5.940):
    # (26.280 − 5.940) ÷ 360.000 = 5,65 %; 40.000 × 5,65 % = 2.260.
    result = simples_das(
        "I", D(999999), D(40000), months_active=3, revenue_so_far=D(90000)
    )  # the given rbt12 is not used in the first 12 months
    assert (result.rbt12, result.das_amount) == (D(360000), D("2260.00"))


def test_twelve_months_active_uses_the_real_rbt12():
    result = simples_das("I", D(600000), D(50000), months_active=12, revenue_so_far=D(1))
    assert result.das_amount == D("3595.00")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"annex": "VI", "rbt12": D(1), "month_revenue": D(1)}, "annex"),
        ({"annex": "I", "rbt12": D("4800000.01"), "month_revenue": D(1)}, "rbt12"),
        ({"annex": "I", "rbt12": D(1), "month_revenue": D(-1)}, "month_revenue"),
        ({"annex": "I", "rbt12": D(-1), "month_revenue": D(1)}, "rbt12"),
        ({"annex": "V", "rbt12": D(1), "month_revenue": D(1), "payroll12": D(-5)}, "payroll12"),
        ({"annex": "I", "rbt12": None, "month_revenue": D(1)}, "rbt12"),
        (
            {"annex": "I", "rbt12": None, "month_revenue": D("400000.01"), "months_active": 0},
            "month_revenue",
        ),
        (
            {"annex": "I", "rbt12": None, "month_revenue": D(1), "months_active": 2},
            "revenue_so_far",
        ),
        (
            {"annex": "I", "rbt12": D(1), "month_revenue": D(1), "months_active": -1},
            "months_active",
        ),
    ],
)
def test_bad_arguments_name_the_field(kwargs, field):
    with pytest.raises(SimplesError) as error:
        simples_das(**kwargs)
    assert error.value.field == field


def test_every_annex_has_six_increasing_brackets_ending_at_the_limit():
    for table in ANNEXES.values():
        uppers = [b.upper for b in table]
        assert len(table) == 6 and uppers == sorted(uppers) and uppers[-1] == D(4800000)


def test_effective_rate_never_jumps_at_the_first_five_bounds():
    # LC 155's deductions make the tax continuous up to R$ 3,6 milhões: at each upper bound the
    # next bracket's formula gives the same effective rate. (The 6th bracket is apart: above the
    # sublimit ICMS/ISS leave the DAS.) This checks every deduction against its neighbours.
    for table in ANNEXES.values():
        for low, high in itertools.pairwise(table[:5]):
            left = (low.upper * low.rate - low.deduction) / low.upper
            right = (low.upper * high.rate - high.deduction) / low.upper
            assert abs(left - right) < D("0.0001")


# DAS-MEI 2026: 5 % of the minimum wage R$ 1.621,00 = 81,05, plus ICMS 1,00 and/or ISS 5,00.
@pytest.mark.parametrize(
    ("activity", "total"),
    [("comercio_industria", "82.05"), ("servicos", "86.05"), ("comercio_servicos", "87.05")],
)
def test_mei_das_2026(activity, total):
    assert mei_das(activity, 2026).total == D(total)


def test_mei_das_2025_used_the_2025_minimum_wage():
    # 5 % of 1.518,00 = 75,90, plus 5,00 of ISS.
    assert mei_das("servicos", 2025).total == D("80.90")


def test_mei_das_of_a_year_without_a_table_names_the_year():
    with pytest.raises(SimplesError) as error:
        mei_das("servicos", 2019)
    assert error.value.field == "year"
