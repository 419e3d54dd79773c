"""Business days and due dates, checked against the 2026 calendar read off a printed one."""

import datetime as dt

import pytest

from finance.calendar import (
    CalendarError,
    business_days,
    holidays_between,
    is_business_day,
    local_today,
    obligations,
)

D = dt.date


def _due(regime, month, code, **kwargs):
    [found] = [o for o in obligations(regime, month, **kwargs) if o.code == code]
    return found


def test_november_2026_has_19_business_days_nationally():
    # 30 days − 9 weekend days (Sundays 1, 8, 15, 22, 29; Saturdays 7, 14, 21, 28) − Finados
    # (Mon 2) − Consciência Negra (Fri 20); the Republic's 15th is a Sunday.
    assert len(business_days(D(2026, 11, 1), D(2026, 11, 30))) == 19


def test_good_friday_2026_comes_from_easter_on_5_april():
    assert D(2026, 4, 3) in {h.date for h in holidays_between(D(2026, 4, 1), D(2026, 4, 30))}


def test_state_holidays_count_only_in_their_state():
    # 6 March 2026 (a Friday): Revolução Pernambucana, a Pernambuco state holiday.
    assert not is_business_day(D(2026, 3, 6), "PE")
    assert is_business_day(D(2026, 3, 6), "SP")


def test_holiday_names_are_in_portuguese():
    names = {h.name for h in holidays_between(D(2026, 12, 25), D(2026, 12, 25))}
    assert names == {"Natal"}


def test_das_due_on_a_holiday_moves_to_the_next_business_day():
    # 20/11/2026 is a Friday and a national holiday: DAS on Monday 23/11.
    das = _due("simples", "2026-11", "das")
    assert (das.nominal_date, das.due_date, das.period) == (
        D(2026, 11, 20),
        D(2026, 11, 23),
        "2026-10",
    )


def test_fgts_due_on_a_holiday_moves_to_the_previous_business_day():
    # Same Friday holiday: FGTS and INSS are anticipated to Thursday 19/11.
    assert _due("simples", "2026-11", "fgts", employees=True).due_date == D(2026, 11, 19)
    assert _due("simples", "2026-11", "inss", employees=True).due_date == D(2026, 11, 19)


def test_das_mei_on_a_sunday_moves_to_monday():
    # 20/12/2026 is a Sunday.
    assert _due("mei", "2026-12", "das_mei").due_date == D(2026, 12, 21)


def test_second_13th_installment_on_a_sunday_is_paid_on_friday():
    assert _due("simples", "2026-12", "13_segunda", employees=True).due_date == D(2026, 12, 18)


def test_first_13th_installment_is_30_november():
    # 30/11/2026 is a Monday: no shift.
    assert _due("mei", "2026-11", "13_primeira", employees=True).due_date == D(2026, 11, 30)


def test_wages_fifth_working_day_counts_saturdays():
    # November 2026: Mon 2 is Finados; Tue 3, Wed 4, Thu 5, Fri 6, Sat 7 → the 7th.
    assert _due("simples", "2026-11", "salario", employees=True).due_date == D(2026, 11, 7)


def test_esocial_on_a_sunday_is_anticipated():
    # 15/03/2026 is a Sunday → Friday 13/03.
    assert _due("simples", "2026-03", "esocial", employees=True).due_date == D(2026, 3, 13)


def test_dasn_simei_only_in_may_and_refers_to_last_year():
    assert _due("mei", "2026-05", "dasn_simei").period == "2025"
    assert "dasn_simei" not in {o.code for o in obligations("mei", "2026-06")}


def test_defis_only_for_simples_in_march():
    assert _due("simples", "2026-03", "defis").due_date == D(2026, 3, 31)
    assert "defis" not in {o.code for o in obligations("mei", "2026-03")}


def test_without_employees_no_labour_dates():
    codes = {o.code for o in obligations("simples", "2026-11")}
    assert codes == {"das"}


def test_every_obligation_cites_its_source():
    for month in ("2026-03", "2026-05", "2026-11", "2026-12"):
        for regime in ("mei", "simples"):
            for item in obligations(regime, month, employees=True):
                assert any(
                    law in item.source for law in ("Lei", "LC", "CLT", "Resolução", "Manual")
                )


def test_january_refers_to_last_december():
    assert _due("simples", "2027-01", "das").period == "2026-12"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: obligations("lucro_real", "2026-11"), "regime"),
        (lambda: obligations("mei", "2026-13"), "month"),
        (lambda: obligations("mei", "2026-11", state="XX"), "state"),
        (lambda: business_days(D(2026, 12, 1), D(2026, 11, 1)), "to"),
        (lambda: business_days(D(2020, 1, 1), D(2026, 1, 1)), "to"),
    ],
)
def test_bad_arguments_name_the_field(call, field):
    with pytest.raises(CalendarError) as error:
        call()
    assert error.value.field == field


def test_today_is_brazilian_time():
    # 02:00 UTC on 1 December is still 30 November in São Paulo (UTC−3).
    assert local_today(dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)) == D(2026, 11, 30)
